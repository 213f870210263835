// The chat page's WebSocket: config.json, the handshake (with the stored session and, signed
// in, the token), pings, and reconnecting with backoff after a drop.
"use strict";

(() => {
  const app = window.ChatApp;
  const { el, state } = app;

  // API Gateway drops connections idle for 10 minutes; the protocol asks for a ping at
  // least every 5, so 4 leaves a margin for a throttled background tab.
  const PING_INTERVAL_MS = 4 * 60 * 1000;
  const BACKOFF_BASE_MS = 1000;
  // A person looking at the page never waits more than 10 s; a hidden tab backs off further.
  const BACKOFF_MAX_VISIBLE_MS = 10000;
  const BACKOFF_MAX_HIDDEN_MS = 30000;

  async function resolveConfig() {
    // The deployed site ships config.json naming the API Gateway endpoint (and, with user
    // sign-in, the hosted UI); locally there is none (404) and the gateway serving this page
    // also speaks WebSocket.
    try {
      const response = await fetch("config.json", { cache: "no-store" });
      if (response.ok) {
        const config = await response.json();
        if (config && typeof config.websocketUrl === "string" && /^wss?:\/\//.test(config.websocketUrl)) {
          const signIn = config.signIn && typeof config.signIn === "object" ? config.signIn : null;
          return { websocketUrl: config.websocketUrl, signIn };
        }
      }
    } catch (_error) {
      // Unreadable config: fall back to the page's own host.
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return { websocketUrl: `${scheme}//${location.host}/`, signIn: null };
  }

  function socketUrl() {
    const url = new URL(state.baseUrl);
    if (state.session && !state.tryFresh) {
      url.searchParams.set("sessionId", state.session.sessionId);
      url.searchParams.set("sessionToken", state.session.sessionToken);
    }
    if (state.signIn) url.searchParams.set("token", state.signIn.idToken());
    return url.toString();
  }

  async function connect() {
    stopCountdown();
    // The connection is authorized once, at the handshake: an expired token cannot open it.
    if (state.signIn && (await state.signIn.renewIfExpired())) {
      setStatus("connecting", "Signing in…");
      return;
    }
    setStatus("connecting", state.attempt ? "Reconnecting…" : "Connecting…");
    const withSession = Boolean(state.session) && !state.tryFresh;
    let opened = false;
    let socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (_error) {
      scheduleReconnect();
      return;
    }
    state.socket = socket;

    socket.addEventListener("open", () => {
      opened = true;
      if (state.tryFresh) {
        // The server is reachable, so the earlier refusal was about the stored session.
        if (state.session && state.conversations) state.conversations.remove(state.session.sessionId);
        app.main.saveSession(null);
        state.tryFresh = false;
        state.sessionDropped = true;
      }
      state.connected = true;
      state.attempt = 0;
      setStatus("connected", "Connected");
      app.composer.updateComposer();
      send({ action: "getSession" });
      state.pingTimer = setInterval(() => send({ action: "ping" }), PING_INTERVAL_MS);
    });

    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_error) {
        return;
      }
      if (frame && typeof frame === "object") app.main.handleFrame(frame);
    });

    socket.addEventListener("close", async () => {
      if (state.socket !== socket) return;
      state.socket = null;
      state.connected = false;
      state.listingSessions = false;
      // Requests on a closed socket get no answers; the resume asks for history afresh.
      state.historyRequests = [];
      clearInterval(state.pingTimer);
      app.composer.markUnsentAsWaiting();
      app.composer.updateComposer();
      // Browsers hide the handshake's HTTP status (401/403); a close before open with a
      // stored session may be a refusal, so try once without it before backing off.
      if (!opened && withSession) {
        state.tryFresh = true;
        connect();
        return;
      }
      state.tryFresh = false;
      // Refused even without a session: with sign-in, the token is the likely reason.
      if (!opened && state.signIn && (await state.signIn.renewAfterRefusal())) {
        setStatus("connecting", "Signing in…");
        return;
      }
      scheduleReconnect();
    });
  }

  function backoffCeiling() {
    const max = document.visibilityState === "hidden" ? BACKOFF_MAX_HIDDEN_MS : BACKOFF_MAX_VISIBLE_MS;
    return Math.min(max, BACKOFF_BASE_MS * 2 ** state.attempt);
  }

  function scheduleReconnect() {
    const ceiling = backoffCeiling();
    // Jitter keeps a crowd of clients from reconnecting in lockstep after an outage.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    state.attempt += 1;
    waitThenConnect(delay);
  }

  function waitThenConnect(delay) {
    clearTimeout(state.reconnectTimer);
    state.reconnectAt = Date.now() + delay;
    state.reconnectTimer = setTimeout(connect, delay);
    setStatus("disconnected", "Disconnected.");
    // The status region announces "Disconnected." once; the ticking seconds are not read out.
    const countdown = document.createElement("span");
    countdown.setAttribute("aria-live", "off");
    countdown.dataset.testid = "reconnect-countdown";
    el.status.append(" ", countdown);
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((state.reconnectAt - Date.now()) / 1000));
      countdown.textContent = `Reconnecting in ${seconds} s…`;
    };
    tick();
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(tick, 250);
    el.banner.hidden = false;
  }

  function stopCountdown() {
    clearTimeout(state.reconnectTimer);
    clearInterval(state.countdownTimer);
    state.reconnectTimer = null;
    el.banner.hidden = true;
  }

  function reconnectNow() {
    if (state.socket) return;
    state.attempt = 0;
    connect();
    el.input.focus();
  }

  el.reconnectNow.addEventListener("click", reconnectNow);

  // Back on screen with a long wait ahead (the tab was hidden): no more than 10 s from now.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || !state.reconnectTimer) return;
    if (state.reconnectAt - Date.now() > BACKOFF_MAX_VISIBLE_MS) waitThenConnect(BACKOFF_MAX_VISIBLE_MS);
  });

  function send(frame) {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return false;
    state.socket.send(JSON.stringify(frame));
    return true;
  }

  function setStatus(kind, text) {
    el.status.dataset.state = kind;
    el.status.textContent = text;
  }

  app.connection = { resolveConfig, connect, send, setStatus };
})();
