// Chat client for the WebSocket protocol in PROTOCOL.md: no framework, no build step.
// All server and user text goes through textContent, never innerHTML.
"use strict";

(() => {
  const STORAGE_KEY = "chatbot.session";
  // API Gateway drops connections idle for 10 minutes; the protocol asks for a ping at
  // least every 5, so 4 leaves a margin for a throttled background tab.
  const PING_INTERVAL_MS = 4 * 60 * 1000;
  const BACKOFF_BASE_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const HISTORY_LIMIT = 100;
  // How near the top (px) a scroll must come to load older messages.
  const OLDER_TRIGGER_PX = 80;
  const MAX_CONTENT_CHARS = 8000;
  const THUMB_PATHS = {
    up: "M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h3zm0 0 4-8a3 3 0 0 1 3 3v4h5.5a2 2 0 0 1 2 2.3l-1.4 8A2 2 0 0 1 18.1 21H7",
    down: "M17 14V3h3a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1h-3zm0 0-4 8a3 3 0 0 1-3-3v-4H4.5a2 2 0 0 1-2-2.3l1.4-8A2 2 0 0 1 5.9 3H17",
  };

  const el = {
    status: document.getElementById("connection-status"),
    list: document.getElementById("messages"),
    emptyHint: document.getElementById("empty-hint"),
    form: document.getElementById("composer"),
    input: document.getElementById("message-input"),
    send: document.getElementById("send-button"),
    newChat: document.getElementById("new-chat"),
    signOut: document.getElementById("sign-out"),
    charCount: document.getElementById("char-count"),
  };

  const state = {
    socket: null,
    baseUrl: null,
    connected: false,
    attempt: 0,
    reconnectTimer: null,
    pingTimer: null,
    // Set after a resume handshake failed before opening: the next try goes without the
    // stored session, and only if that one opens do we know the session was refused.
    tryFresh: false,
    // Set when the stored session was refused, so the new one can say so on screen.
    sessionDropped: false,
    // Where the session is kept: one key per signed-in user, so that a second person
    // signing in on this browser never resumes the first one's conversation.
    storageKey: STORAGE_KEY,
    session: null,
    // The sign-in flow (sign-in.js) when config.json asks for one, else null.
    signIn: null,
    // messageId -> {userItem, item, content, parts, done}
    turns: new Map(),
    // messageId -> rating, until the server acknowledges the feedback
    pendingFeedback: new Map(),
    // What each getHistory in flight asked for, in order ("replace" or "older"): a history
    // frame does not say which request it answers, and answers come in request order.
    historyRequests: [],
    // Whether the server said older messages exist than the oldest on screen.
    hasMore: false,
    // The top-of-list notice about older messages, while hasMore.
    olderNotice: null,
  };

  // --- session storage ----------------------------------------------------------------

  function loadSession() {
    try {
      const stored = JSON.parse(localStorage.getItem(state.storageKey) || "null");
      if (stored && typeof stored.sessionId === "string" && typeof stored.sessionToken === "string") {
        return stored;
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
  }

  // --- connection ---------------------------------------------------------------------

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
    clearTimeout(state.reconnectTimer);
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
        saveSession(null);
        state.tryFresh = false;
        state.sessionDropped = true;
      }
      state.connected = true;
      state.attempt = 0;
      setStatus("connected", "Connected");
      updateSendEnabled();
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
      if (frame && typeof frame === "object") handleFrame(frame);
    });

    socket.addEventListener("close", async () => {
      if (state.socket !== socket) return;
      state.socket = null;
      state.connected = false;
      // Requests on a closed socket get no answers; the resume asks for history afresh.
      state.historyRequests = [];
      clearInterval(state.pingTimer);
      updateSendEnabled();
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

  function scheduleReconnect() {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
    // Jitter keeps a crowd of clients from reconnecting in lockstep after an outage.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    state.attempt += 1;
    setStatus("disconnected", `Disconnected. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function send(frame) {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return false;
    state.socket.send(JSON.stringify(frame));
    return true;
  }

  function setStatus(kind, text) {
    el.status.dataset.state = kind;
    el.status.textContent = text;
  }

  function updateSendEnabled() {
    el.send.disabled = !state.connected;
  }

  // --- frames from the server ---------------------------------------------------------

  function handleFrame(frame) {
    switch (frame.type) {
      case "session":
        onSession(frame);
        break;
      case "history":
        onHistory(frame);
        break;
      case "ack":
        onAck(frame);
        break;
      case "delta":
        onDelta(frame);
        break;
      case "message":
        onMessage(frame);
        break;
      case "error":
        onError(frame);
        break;
      default:
        // pong and anything newer than this client: nothing to show.
        break;
    }
  }

  function onSession(frame) {
    saveSession({ sessionId: frame.sessionId, sessionToken: frame.sessionToken });
    if (frame.resumed) {
      requestHistory("replace");
    } else if (state.sessionDropped && el.list.children.length) {
      // What is on screen belongs to a session the server no longer accepts.
      state.turns.clear();
      state.pendingFeedback.clear();
      resetHistory();
      el.list.replaceChildren();
      addNotice("Your previous conversation could not be resumed; this is a new one.");
    }
    state.sessionDropped = false;
  }

  function requestHistory(kind) {
    const frame = { action: "getHistory", limit: HISTORY_LIMIT };
    if (kind === "older") {
      const oldest = el.list.querySelector("li.message[data-message-id]");
      if (!oldest) return;
      frame.before = oldest.dataset.messageId;
    }
    if (send(frame)) state.historyRequests.push(kind);
    showOlderNotice();
  }

  function resetHistory() {
    state.historyRequests = [];
    state.hasMore = false;
    state.olderNotice = null;
  }

  function loadingOlder() {
    return state.historyRequests.includes("older");
  }

  // Near the top with older messages on the server: fetch the page before the oldest shown.
  function maybeLoadOlder() {
    if (!state.hasMore || state.historyRequests.length) return;
    if (el.list.scrollTop > OLDER_TRIGGER_PX) return;
    requestHistory("older");
  }

  function showOlderNotice() {
    if (!state.hasMore) {
      if (state.olderNotice) state.olderNotice.remove();
      state.olderNotice = null;
      return;
    }
    if (!state.olderNotice) {
      const item = document.createElement("li");
      item.className = "notice older-messages";
      item.dataset.testid = "older-messages";
      state.olderNotice = item;
    }
    if (el.list.firstChild !== state.olderNotice) el.list.prepend(state.olderNotice);
    const loading = loadingOlder();
    state.olderNotice.setAttribute("aria-busy", String(loading));
    state.olderNotice.textContent = loading ? "Loading older messages…" : "Scroll up for older messages.";
  }

  // One page of history entries as bubbles in ``parent`` (the list, or a fragment to prepend),
  // skipping any already on screen.
  function renderEntries(messages, parent) {
    for (const entry of messages) {
      if (!entry || typeof entry.messageId !== "string") continue;
      const known = state.turns.get(entry.messageId);
      if (entry.role === "user") {
        if (known && known.userItem) continue;
        ensureTurn(entry.messageId, String(entry.content ?? ""), { withAnswer: false, parent });
      } else if (entry.role === "assistant") {
        if (known && known.item) continue;
        const turn = ensureTurn(entry.messageId, null, { withAnswer: true, parent });
        finishAnswer(turn, entry.messageId, entry.content, entry.sources);
      }
    }
  }

  function onHistory(frame) {
    const kind = state.historyRequests.shift() || "replace";
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    state.hasMore = frame.hasMore === true && messages.length > 0;
    if (kind === "older") {
      onOlderHistory(messages);
      return;
    }
    // Turns still waiting for an answer survive the re-render and are asked again below.
    const waiting = [...state.turns.entries()].filter(([, turn]) => turn.item && !turn.done);
    state.turns.clear();
    el.list.replaceChildren();
    state.olderNotice = null;
    showOlderNotice();
    renderEntries(messages, el.list);
    for (const [messageId, turn] of waiting) {
      if (state.turns.has(messageId) && state.turns.get(messageId).item) continue;
      ensureTurn(messageId, turn.userText, { withAnswer: true });
      // Idempotent by messageId: the server acks it as a duplicate and repeats the answer
      // if it exists, or answers it now if the first attempt never reached it.
      send({ action: "sendMessage", messageId, content: turn.userText });
    }
    updateEmptyHint();
    scrollToEnd(true);
    fillViewport();
  }

  // Older messages go above the oldest shown, and the view stays on what the person was
  // reading: the scroll offset grows by exactly the height added above it.
  function onOlderHistory(messages) {
    const fragment = document.createDocumentFragment();
    renderEntries(messages, fragment);
    // A page with nothing new cannot move the oldest message shown: paging would repeat it.
    if (!fragment.childNodes.length) state.hasMore = false;
    const heightBefore = el.list.scrollHeight;
    const topBefore = el.list.scrollTop;
    const anchor = state.olderNotice ? state.olderNotice.nextSibling : el.list.firstChild;
    el.list.insertBefore(fragment, anchor);
    showOlderNotice();
    el.list.scrollTop = topBefore + (el.list.scrollHeight - heightBefore);
    updateEmptyHint();
    fillViewport();
  }

  // A first page too short to scroll would leave older messages unreachable: load on.
  function fillViewport() {
    if (state.hasMore && el.list.scrollHeight <= el.list.clientHeight) requestHistory("older");
  }

  el.list.addEventListener("scroll", maybeLoadOlder, { passive: true });

  function onAck(frame) {
    const rating = state.pendingFeedback.get(frame.messageId);
    if (rating) {
      state.pendingFeedback.delete(frame.messageId);
      const turn = state.turns.get(frame.messageId);
      if (turn && turn.feedbackNote) turn.feedbackNote.textContent = "Thanks for the feedback.";
      return;
    }
    const turn = state.turns.get(frame.messageId);
    if (turn && turn.item && !turn.done && !turn.parts.length) {
      turn.content.textContent = "Thinking…";
    }
  }

  function onDelta(frame) {
    const turn = state.turns.get(frame.messageId);
    if (!turn || turn.done || !Number.isInteger(frame.index) || frame.index < 0) return;
    turn.parts[frame.index] = String(frame.content ?? "");
    turn.item.dataset.state = "streaming";
    turn.content.classList.remove("placeholder");
    // Fragments may arrive out of order; join() leaves gaps empty until they are filled.
    turn.content.textContent = turn.parts.join("");
    scrollToEnd();
  }

  function onMessage(frame) {
    const turn = ensureTurn(frame.messageId, null, { withAnswer: true });
    finishAnswer(turn, frame.messageId, frame.content, frame.sources);
    scrollToEnd();
  }

  function onError(frame) {
    const text = typeof frame.message === "string" && frame.message ? frame.message : "Something went wrong.";
    const turn = frame.messageId ? state.turns.get(frame.messageId) : null;
    if (turn && state.pendingFeedback.has(frame.messageId)) {
      state.pendingFeedback.delete(frame.messageId);
      if (turn.feedbackNote) turn.feedbackNote.textContent = text;
      return;
    }
    if (turn && turn.item && !turn.done) {
      // Not by colour alone: screen readers hear that this bubble is an error.
      settleTurn(turn, "error", "Error:", text, "message-error");
      if (frame.retryable) addRetryButton(turn, frame.messageId);
      // The person just sent this; the reason it failed must be in view.
      scrollToEnd(true);
      return;
    }
    addNotice(text, "error");
  }

  // --- rendering ----------------------------------------------------------------------

  function ensureTurn(messageId, userText, { withAnswer, parent = el.list }) {
    let turn = state.turns.get(messageId);
    if (!turn) {
      turn = { userItem: null, item: null, content: null, parts: [], done: false, userText: userText || "" };
      state.turns.set(messageId, turn);
    }
    if (userText !== null && !turn.userItem) {
      turn.userItem = bubble("user", messageId);
      turn.userItem.querySelector(".content").textContent = userText;
      turn.userText = userText;
      // An answer that arrived first (history order) must stay below its question.
      parent.insertBefore(turn.userItem, turn.item && turn.item.parentNode === parent ? turn.item : null);
    }
    if (withAnswer && !turn.item) {
      turn.item = bubble("assistant", messageId);
      turn.item.dataset.state = "pending";
      turn.item.setAttribute("aria-busy", "true");
      turn.content = turn.item.querySelector(".content");
      turn.content.classList.add("placeholder");
      turn.content.textContent = "Sending…";
      parent.appendChild(turn.item);
    }
    updateEmptyHint();
    return turn;
  }

  function bubble(role, messageId) {
    const item = document.createElement("li");
    item.className = `message ${role}`;
    item.dataset.testid = `message-${role}`;
    item.dataset.messageId = messageId;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = role === "user" ? "You said:" : "Assistant:";
    const content = document.createElement("div");
    content.className = "content";
    content.dataset.testid = "message-content";
    item.append(who, content);
    return item;
  }

  // A turn's bubble, done: its state ("complete" or "error"), the label screen readers hear,
  // its final text and the test id of that text.
  function settleTurn(turn, outcome, label, text, testid) {
    turn.done = true;
    turn.item.dataset.state = outcome;
    turn.item.classList.toggle("error", outcome === "error");
    turn.item.setAttribute("aria-busy", "false");
    turn.item.querySelector(".visually-hidden").textContent = label;
    turn.content.classList.remove("placeholder");
    turn.content.textContent = text;
    turn.content.dataset.testid = testid;
  }

  function finishAnswer(turn, messageId, content, sources) {
    // An earlier error in this bubble (say, before a resend) no longer applies.
    settleTurn(turn, "complete", "Assistant:", String(content ?? ""), "message-content");
    for (const stale of turn.item.querySelectorAll(".sources, .feedback, .retry")) stale.remove();
    if (Array.isArray(sources) && sources.length) turn.item.appendChild(sourceList(sources));
    turn.item.appendChild(feedbackControls(turn, messageId));
  }

  function sourceList(sources) {
    const wrapper = document.createElement("div");
    wrapper.className = "sources";
    wrapper.dataset.testid = "message-sources";
    const heading = document.createElement("p");
    heading.className = "sources-heading";
    heading.textContent = "Sources";
    const list = document.createElement("ul");
    for (const source of sources) {
      const entry = document.createElement("li");
      entry.textContent = String(source);
      list.appendChild(entry);
    }
    wrapper.append(heading, list);
    return wrapper;
  }

  function feedbackControls(turn, messageId) {
    const group = document.createElement("div");
    group.className = "feedback";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Rate this answer");
    const note = document.createElement("span");
    note.className = "feedback-note";
    note.setAttribute("aria-live", "polite");
    turn.feedbackNote = note;
    const buttons = [];
    for (const [rating, label] of [
      ["up", "Helpful"],
      ["down", "Not helpful"],
    ]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "feedback-button";
      button.dataset.testid = `feedback-${rating}`;
      button.setAttribute("aria-label", label);
      button.setAttribute("aria-pressed", "false");
      button.title = label;
      button.appendChild(thumbIcon(rating));
      button.addEventListener("click", () => {
        if (!send({ action: "feedback", messageId, rating })) {
          note.textContent = "Not connected; try again when reconnected.";
          return;
        }
        state.pendingFeedback.set(messageId, rating);
        for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
        note.textContent = "";
      });
      buttons.push(button);
      group.appendChild(button);
    }
    group.appendChild(note);
    return group;
  }

  function thumbIcon(rating) {
    // Inline SVG rather than emoji: emoji fonts are missing on many Linux machines.
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.classList.add("icon");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", THUMB_PATHS[rating]);
    svg.appendChild(path);
    return svg;
  }

  function addRetryButton(turn, messageId) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "retry secondary";
    button.dataset.testid = "retry-button";
    button.textContent = "Try again";
    button.addEventListener("click", () => {
      if (!state.connected) return;
      // The same messageId: the server retries a failed answer in place, and an id it never
      // stored (RATE_LIMITED) is simply new to it; a fresh id would duplicate the question.
      button.remove();
      turn.done = false;
      turn.parts = [];
      turn.item.dataset.state = "pending";
      turn.item.classList.remove("error");
      turn.item.setAttribute("aria-busy", "true");
      turn.content.dataset.testid = "message-content";
      turn.content.classList.add("placeholder");
      turn.content.textContent = "Sending…";
      send({ action: "sendMessage", messageId, content: turn.userText });
    });
    turn.item.appendChild(button);
  }

  function addNotice(text, kind = "info") {
    const item = document.createElement("li");
    item.className = `notice ${kind}`;
    item.dataset.testid = kind === "error" ? "notice-error" : "notice";
    item.textContent = text;
    el.list.appendChild(item);
    updateEmptyHint();
    scrollToEnd();
  }

  function updateEmptyHint() {
    el.emptyHint.hidden = el.list.children.length > 0;
  }

  function scrollToEnd(force = false) {
    // scrollHeight already includes what was just added; the margin absorbs its height. No
    // smooth scrolling: it leaves scrollTop behind and the next check would think we moved.
    const nearEnd = el.list.scrollHeight - el.list.scrollTop - el.list.clientHeight < 200;
    // Do not yank the view away from someone reading older messages.
    if (force || nearEnd) el.list.scrollTop = el.list.scrollHeight;
  }

  // --- sending ------------------------------------------------------------------------

  function newMessageId() {
    // randomUUID needs a secure context; plain-http LAN hosts fall back to getRandomValues.
    if (typeof crypto.randomUUID === "function") return `m-${crypto.randomUUID()}`;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `m-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  function submit(text) {
    const content = text.trim();
    if (!content || !state.connected) return false;
    const messageId = newMessageId();
    const frame = { action: "sendMessage", messageId, content, timestamp: new Date().toISOString() };
    if (state.session) frame.sessionId = state.session.sessionId;
    if (!send(frame)) return false;
    ensureTurn(messageId, content, { withAnswer: true });
    scrollToEnd(true);
    return true;
  }

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit(el.input.value)) {
      el.input.value = "";
      updateCharCount();
    }
    el.input.focus();
  });

  el.input.addEventListener("keydown", (event) => {
    // isComposing: Enter also confirms an IME composition and must not send then.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      el.form.requestSubmit();
    }
  });

  function updateCharCount() {
    const length = el.input.value.trim().length;
    const over = length > MAX_CONTENT_CHARS;
    // Shown only near the limit; the server stays the judge (it answers MESSAGE_TOO_LARGE).
    el.charCount.textContent = length > MAX_CONTENT_CHARS * 0.9 ? `${length} / ${MAX_CONTENT_CHARS}` : "";
    el.charCount.classList.toggle("over", over);
  }

  el.input.addEventListener("input", updateCharCount);

  el.newChat.addEventListener("click", () => {
    saveSession(null);
    state.turns.clear();
    state.pendingFeedback.clear();
    resetHistory();
    el.list.replaceChildren();
    updateEmptyHint();
    const socket = state.socket;
    state.socket = null;
    state.connected = false;
    clearInterval(state.pingTimer);
    if (socket) socket.close(1000, "new conversation");
    state.attempt = 0;
    connect();
    el.input.focus();
  });

  el.signOut.addEventListener("click", () => {
    // Signing out forgets this user's conversation on this browser too.
    saveSession(null);
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close(1000, "signed out");
    state.signIn.signOut();
  });

  async function start() {
    const config = await resolveConfig();
    state.baseUrl = config.websocketUrl;
    if (config.signIn) {
      state.signIn = window.ChatSignIn.create(config.signIn);
      setStatus("connecting", "Signing in…");
      let user;
      try {
        user = await state.signIn.begin();
      } catch (error) {
        setStatus("disconnected", `Sign-in failed: ${error.message}. Reload the page to try again.`);
        return;
      }
      if (!user) return; // on the way to the hosted UI
      state.storageKey = `${STORAGE_KEY}.${user.sub}`;
      el.signOut.hidden = false;
      if (user.email) el.signOut.title = `Signed in as ${user.email}`;
    }
    state.session = loadSession();
    connect();
  }

  start();
})();
