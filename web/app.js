// Chat client for the WebSocket protocol in PROTOCOL.md: no framework, no build step. This
// script loads last and starts the page: the stored session, each server frame to its
// handler, switching conversations. page-state.js says how the page's scripts fit together.
"use strict";

(() => {
  const app = window.ChatApp;
  const { el, state, STORAGE_KEY } = app;
  const LIST_KEY = "chatbot.conversations";

  // --- session storage ----------------------------------------------------------------

  function loadSession() {
    try {
      const stored = JSON.parse(localStorage.getItem(state.storageKey) || "null");
      if (stored && typeof stored.sessionId === "string" && typeof stored.sessionToken === "string") {
        return { sessionId: stored.sessionId, sessionToken: stored.sessionToken };
      }
    } catch (_error) {
      // Corrupt or unavailable storage: start a fresh session rather than fail to load.
    }
    return null;
  }

  function saveSession(session) {
    state.session = session;
    try {
      if (session) localStorage.setItem(state.storageKey, JSON.stringify(session));
      else localStorage.removeItem(state.storageKey);
    } catch (_error) {
      // Private modes may refuse storage; the session then lasts as long as the page.
    }
    drawConversations();
  }

  function drawConversations() {
    if (!state.conversations) return;
    const current = state.session ? state.session.sessionId : null;
    window.ChatConversations.render(el.conversationList, state.conversations, current, switchTo);
  }

  // --- frames from the server ---------------------------------------------------------

  function handleFrame(frame) {
    switch (frame.type) {
      case "session":
        onSession(frame);
        break;
      case "sessions":
        state.listingSessions = false;
        state.conversations.replace(frame.sessions);
        break;
      case "history":
        app.history.onHistory(frame);
        break;
      case "ack":
        app.turns.onAck(frame);
        break;
      case "delta":
        app.turns.onDelta(frame);
        break;
      case "message":
        app.turns.onMessage(frame);
        break;
      case "error":
        app.turns.onError(frame);
        break;
      default:
        // pong and anything newer than this client: nothing to show.
        break;
    }
  }

  function onSession(frame) {
    saveSession({ sessionId: frame.sessionId, sessionToken: frame.sessionToken });
    if (state.unlistedQuestion) {
      state.conversations.touch(state.session, { question: state.unlistedQuestion });
      state.unlistedQuestion = null;
    }
    if (state.signIn && app.connection.send({ action: "listSessions" })) state.listingSessions = true;
    if (frame.resumed) {
      app.history.requestHistory("replace");
    } else {
      if (state.sessionDropped && el.list.children.length) {
        // What is on screen belongs to a session the server no longer accepts: the questions
        // still waiting to go out are asked in the new one.
        const queued = [...state.turns.entries()].filter(([, turn]) => turn.item && !turn.done);
        clearConversation();
        app.turns.addNotice("Your previous conversation could not be resumed; this is a new one.");
        for (const [messageId, turn] of queued) app.turns.ensureTurn(messageId, turn.userText, { withAnswer: true, queued: true });
      }
      sendQueued();
    }
    state.sessionDropped = false;
  }

  // Questions typed while offline (and those never answered before a drop) go out now, each
  // once: the server is idempotent by messageId should one already have reached it.
  function sendQueued() {
    for (const [messageId, turn] of state.turns) {
      if (!turn.item || turn.done || !turn.queued) continue;
      if (!app.composer.sendQuestion(messageId, turn.userText)) return;
      turn.queued = false;
      app.turns.setPlaceholder(turn, "Sending…");
      app.composer.noteActivity(turn.userText);
    }
    app.composer.updateComposer();
  }

  // --- conversations ------------------------------------------------------------------

  function clearConversation() {
    state.turns.clear();
    state.unlistedQuestion = null;
    state.pendingFeedback.clear();
    app.history.resetHistory();
    el.list.replaceChildren();
    el.note.textContent = "";
    app.turns.updateWelcome();
    app.composer.updateComposer();
  }

  // Drop the socket and open a new one for ``session`` (null: a new conversation).
  function reopen(session) {
    saveSession(session);
    clearConversation();
    const socket = state.socket;
    state.socket = null;
    state.connected = false;
    clearInterval(state.pingTimer);
    if (socket) socket.close(1000, "switching conversation");
    state.attempt = 0;
    state.tryFresh = false;
    app.connection.connect();
    closeSidebar();
    el.input.focus();
  }

  function switchTo(entry) {
    if (state.session && state.session.sessionId === entry.sessionId) {
      closeSidebar();
      el.input.focus();
      return;
    }
    reopen({ sessionId: entry.sessionId, sessionToken: entry.sessionToken });
  }

  function closeSidebar() {
    el.sidebar.classList.remove("open");
    el.sidebarToggle.setAttribute("aria-expanded", "false");
  }

  el.sidebarToggle.addEventListener("click", () => {
    const open = !el.sidebar.classList.contains("open");
    el.sidebar.classList.toggle("open", open);
    el.sidebarToggle.setAttribute("aria-expanded", String(open));
    if (open) el.sidebar.querySelector("button")?.focus();
  });

  // "New conversation" keeps the old one: it stays in the list, a click away.
  el.newChat.addEventListener("click", () => reopen(null));

  el.signOut.addEventListener("click", () => {
    // Signing out forgets this user's conversation on this browser too.
    saveSession(null);
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close(1000, "signed out");
    state.signIn.signOut();
  });

  async function start() {
    app.turns.updateWelcome();
    app.composer.updateComposer();
    const config = await app.connection.resolveConfig();
    state.baseUrl = config.websocketUrl;
    let listKey = LIST_KEY;
    if (config.signIn) {
      state.signIn = window.ChatSignIn.create(config.signIn);
      app.connection.setStatus("connecting", "Signing in…");
      let user;
      try {
        user = await state.signIn.begin();
      } catch (error) {
        app.connection.setStatus("disconnected", `Sign-in failed: ${error.message}. Reload the page to try again.`);
        return;
      }
      if (!user) return; // on the way to the hosted UI
      state.storageKey = `${STORAGE_KEY}.${user.sub}`;
      listKey = `${LIST_KEY}.${user.sub}`;
      el.signOut.hidden = false;
      if (user.email) el.signOut.title = `Signed in as ${user.email}`;
    }
    state.conversations = window.ChatConversations.create(listKey, drawConversations);
    state.session = loadSession();
    drawConversations();
    app.connection.connect();
  }

  app.main = { saveSession, handleFrame };
  start();
})();
