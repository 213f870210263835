// Sign-in through the Cognito hosted UI: authorization code with PKCE (S256), no client secret.
// Used only when config.json carries `signIn`; the ID token lives in sessionStorage (this tab).
"use strict";

window.ChatSignIn = (() => {
  const TOKEN_KEY = "chatbot.signIn.token";
  const PENDING_KEY = "chatbot.signIn.pending";
  // A token this close to expiry might lapse during the handshake; sign in again instead.
  const EXPIRY_MARGIN_S = 30;
  // A refusal this soon after signing in points at the server, not the token: signing in
  // again would only loop through the hosted UI (which answers at once while its own
  // session lasts), so the page backs off and retries instead.
  const FRESH_SIGN_IN_MS = 60 * 1000;

  function base64Url(bytes) {
    let text = "";
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomText(byteCount) {
    return base64Url(crypto.getRandomValues(new Uint8Array(byteCount)));
  }

  async function challengeFor(verifier) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    return base64Url(new Uint8Array(digest));
  }

  function claimsOf(token) {
    // Display and expiry only: the server verifies the signature, the page need not.
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(payload));
      return claims && typeof claims === "object" ? claims : null;
    } catch (_error) {
      return null;
    }
  }

  function readJson(key) {
    try {
      return JSON.parse(sessionStorage.getItem(key) || "null");
    } catch (_error) {
      return null;
    }
  }

  function writeJson(key, value) {
    try {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (_error) {
      return false;
    }
  }

  function create(config) {
    const domainUrl = String(config.domainUrl).replace(/\/+$/, "");
    const clientId = String(config.clientId);
    const redirectUri = String(config.redirectUri);

    function stored() {
      const entry = readJson(TOKEN_KEY);
      if (!entry || typeof entry.idToken !== "string") return null;
      const claims = claimsOf(entry.idToken);
      if (!claims || typeof claims.sub !== "string" || typeof claims.exp !== "number") return null;
      return { idToken: entry.idToken, signedInAt: Number(entry.signedInAt) || 0, claims };
    }

    function expired(entry) {
      return !entry || entry.claims.exp - EXPIRY_MARGIN_S <= Date.now() / 1000;
    }

    // Sends the browser to the hosted UI; resolves false (and stays) when it cannot.
    async function start() {
      const verifier = randomText(32);
      const pending = { state: randomText(16), verifier };
      // Without storage the code could never be redeemed, and every return would start over.
      if (!writeJson(PENDING_KEY, pending) || readJson(PENDING_KEY)?.state !== pending.state) {
        return false;
      }
      const url = new URL(`${domainUrl}/oauth2/authorize`);
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: "openid email",
        state: pending.state,
        code_challenge: await challengeFor(verifier),
        code_challenge_method: "S256",
      }).toString();
      location.assign(url.toString());
      return true;
    }

    async function redeem(code) {
      const pending = readJson(PENDING_KEY);
      writeJson(PENDING_KEY, null);
      const response = await fetch(`${domainUrl}/oauth2/token`, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "authorization_code",
          client_id: clientId,
          code,
          redirect_uri: redirectUri,
          code_verifier: pending.verifier,
        }),
      });
      const tokens = response.ok ? await response.json() : null;
      if (!tokens || typeof tokens.id_token !== "string") {
        throw new Error(`the token endpoint answered HTTP ${response.status}`);
      }
      writeJson(TOKEN_KEY, { idToken: tokens.id_token, signedInAt: Date.now() });
    }

    return {
      // The signed-in user ({sub, email}), or null while the browser goes to the hosted UI.
      // Throws (with a message for the page) when sign-in failed.
      async begin() {
        const params = new URLSearchParams(location.search);
        const code = params.get("code");
        const error = params.get("error");
        if (code || error) {
          // Neither a reload nor a bookmark may replay the code.
          history.replaceState(null, "", location.pathname);
        }
        if (error) {
          throw new Error(params.get("error_description") || error);
        }
        const pending = readJson(PENDING_KEY);
        if (code && pending && pending.state === params.get("state")) {
          await redeem(code);
        }
        // A code this tab did not ask for (wrong or no state) is dropped: redeeming it
        // could sign the person in as someone else.
        const entry = stored();
        if (!expired(entry)) return { sub: entry.claims.sub, email: entry.claims.email };
        if (!(await start())) throw new Error("this browser does not let the page keep a sign-in");
        return null;
      },

      idToken() {
        const entry = stored();
        return entry ? entry.idToken : null;
      },

      // True when the browser is on its way to the hosted UI.
      async renewIfExpired() {
        return expired(stored()) ? start() : false;
      },

      // After a refused handshake: true when the browser is on its way to the hosted UI.
      async renewAfterRefusal() {
        const entry = stored();
        if (!expired(entry) && Date.now() - entry.signedInAt < FRESH_SIGN_IN_MS) return false;
        return start();
      },

      signOut() {
        writeJson(TOKEN_KEY, null);
        const url = new URL(`${domainUrl}/logout`);
        url.search = new URLSearchParams({ client_id: clientId, logout_uri: redirectUri }).toString();
        location.assign(url.toString());
      },
    };
  }

  return { create };
})();
