// Chat client for the WebSocket protocol in PROTOCOL.md: no framework, no build step.
// Server and user text goes through textContent, or through window.ChatRender (render.js),
// which sanitizes the Markdown it renders; never straight into innerHTML.
"use strict";

(() => {
  const STORAGE_KEY = "chatbot.session";
  const LIST_KEY = "chatbot.conversations";
  // API Gateway drops connections idle for 10 minutes; the protocol asks for a ping at
  // least every 5, so 4 leaves a margin for a throttled background tab.
  const PING_INTERVAL_MS = 4 * 60 * 1000;
  const BACKOFF_BASE_MS = 1000;
  // A person looking at the page never waits more than 10 s; a hidden tab backs off further.
  const BACKOFF_MAX_VISIBLE_MS = 10000;
  const BACKOFF_MAX_HIDDEN_MS = 30000;
  const HISTORY_LIMIT = 100;
  // How near the top (px) a scroll must come to load older messages.
  const OLDER_TRIGGER_PX = 80;
  const NEAR_END_PX = 200;
  const MAX_CONTENT_CHARS = 8000;
  const MAX_COMMENT_CHARS = 1000;
  const WAITING_TEXT = "Waiting for the connection…";
  const THUMB_PATHS = {
    up: "M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h3zm0 0 4-8a3 3 0 0 1 3 3v4h5.5a2 2 0 0 1 2 2.3l-1.4 8A2 2 0 0 1 18.1 21H7",
    down: "M17 14V3h3a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1h-3zm0 0-4 8a3 3 0 0 1-3-3v-4H4.5a2 2 0 0 1-2-2.3l1.4-8A2 2 0 0 1 5.9 3H17",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("connection-status"),
    scroller: $("message-scroller"),
    list: $("messages"),
    welcome: $("welcome"),
    form: $("composer"),
    input: $("message-input"),
    send: $("send-button"),
    stop: $("stop-button"),
    newChat: $("new-chat"),
    signOut: $("sign-out"),
    charCount: $("char-count"),
    note: $("composer-note"),
    jump: $("jump-latest"),
    banner: $("connection-banner"),
    reconnectNow: $("reconnect-now"),
    sidebar: $("conversations"),
    sidebarToggle: $("conversations-toggle"),
    conversationList: $("conversation-list"),
  };

  const state = {
    socket: null,
    baseUrl: null,
    connected: false,
    attempt: 0,
    reconnectTimer: null,
    reconnectAt: 0,
    countdownTimer: null,
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
    // The first question asked on this connection before its `session` frame arrived.
    unlistedQuestion: null,
    conversations: null,
    // Sent listSessions and not yet answered (signed in only).
    listingSessions: false,
    // The sign-in flow (sign-in.js) when config.json asks for one, else null.
    signIn: null,
    // messageId -> {userItem, item, content, parts, done, userText, queued, cancelling}
    turns: new Map(),
    // messageId -> rating, until the server acknowledges the feedback
    pendingFeedback: new Map(),
    // The server answered `cancel` with UNKNOWN_ACTION: no Stop button any more.
    cancelUnsupported: false,
    // What each getHistory in flight asked for, in order ("replace" or "older"): a history
    // frame does not say which request it answers, and answers come in request order.
    historyRequests: [],
    hasMore: false,
    olderNotice: null,
  };

  const render = () => (window.ChatRender && typeof window.ChatRender.answer === "function" ? window.ChatRender : null);

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
        saveSession(null);
        state.tryFresh = false;
        state.sessionDropped = true;
      }
      state.connected = true;
      state.attempt = 0;
      setStatus("connected", "Connected");
      updateComposer();
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
      state.listingSessions = false;
      // Requests on a closed socket get no answers; the resume asks for history afresh.
      state.historyRequests = [];
      clearInterval(state.pingTimer);
      markUnsentAsWaiting();
      updateComposer();
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
    if (state.unlistedQuestion) {
      state.conversations.touch(state.session, { question: state.unlistedQuestion });
      state.unlistedQuestion = null;
    }
    if (state.signIn && send({ action: "listSessions" })) state.listingSessions = true;
    if (frame.resumed) {
      requestHistory("replace");
    } else {
      if (state.sessionDropped && el.list.children.length) {
        // What is on screen belongs to a session the server no longer accepts: the questions
        // still waiting to go out are asked in the new one.
        const queued = [...state.turns.entries()].filter(([, turn]) => turn.item && !turn.done);
        clearConversation();
        addNotice("Your previous conversation could not be resumed; this is a new one.");
        for (const [messageId, turn] of queued) ensureTurn(messageId, turn.userText, { withAnswer: true, queued: true });
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
      if (!sendQuestion(messageId, turn.userText)) return;
      turn.queued = false;
      setPlaceholder(turn, "Sending…");
      noteActivity(turn.userText);
    }
    updateComposer();
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

  function maybeLoadOlder() {
    if (!state.hasMore || state.historyRequests.length) return;
    if (el.scroller.scrollTop > OLDER_TRIGGER_PX) return;
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
    const loading = state.historyRequests.includes("older");
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
        const turn = ensureTurn(entry.messageId, String(entry.content ?? ""), { withAnswer: false, parent });
        stamp(turn.userItem, entry.timestamp);
        if (entry.status === "failed") {
          ensureTurn(entry.messageId, null, { withAnswer: true, parent });
          settleTurn(turn, "error", "Error:", "This message didn't get an answer.", "message-error");
          addRetryButton(turn, entry.messageId);
        } else if (entry.status === "pending") {
          ensureTurn(entry.messageId, null, { withAnswer: true, parent });
          setPlaceholder(turn, "Waiting for the answer…");
        }
      } else if (entry.role === "assistant") {
        if (known && known.item && known.done && known.answered) continue;
        const turn = ensureTurn(entry.messageId, null, { withAnswer: true, parent });
        finishAnswer(turn, entry.messageId, entry);
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
    const firstQuestion = messages.find((entry) => entry && entry.role === "user");
    const last = messages[messages.length - 1];
    if (firstQuestion) {
      // Only a first page that starts the conversation can name it; any page dates it.
      const question = state.hasMore ? null : String(firstQuestion.content ?? "");
      state.conversations.touch(state.session, { question, at: last.timestamp, createdAt: firstQuestion.timestamp });
    }
    for (const [messageId, turn] of waiting) {
      const shown = state.turns.get(messageId);
      if (shown && shown.item && shown.done) continue;
      const again = ensureTurn(messageId, turn.userText, { withAnswer: true });
      // Idempotent by messageId: the server acks it as a duplicate and repeats the answer
      // if it exists, or answers it now if the first attempt never reached it.
      if (sendQuestion(messageId, turn.userText)) {
        if (turn.queued) noteActivity(turn.userText);
        setPlaceholder(again, "Sending…");
      } else {
        again.queued = true;
        setPlaceholder(again, WAITING_TEXT);
      }
    }
    updateRegenerate();
    updateComposer();
    updateWelcome();
    markScrollable();
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
    const heightBefore = el.scroller.scrollHeight;
    const topBefore = el.scroller.scrollTop;
    const anchor = state.olderNotice ? state.olderNotice.nextSibling : el.list.firstChild;
    el.list.insertBefore(fragment, anchor);
    showOlderNotice();
    el.scroller.scrollTop = topBefore + (el.scroller.scrollHeight - heightBefore);
    updateWelcome();
    markScrollable();
    fillViewport();
  }

  // A first page too short to scroll would leave older messages unreachable: load on.
  function fillViewport() {
    if (state.hasMore && el.scroller.scrollHeight <= el.scroller.clientHeight) requestHistory("older");
  }

  function onAck(frame) {
    const rating = state.pendingFeedback.get(frame.messageId);
    const turn = state.turns.get(frame.messageId);
    if (rating) {
      state.pendingFeedback.delete(frame.messageId);
      if (turn && turn.feedbackNote) turn.feedbackNote.textContent = "Thanks for the feedback.";
      return;
    }
    if (!turn) return;
    if (turn.userItem && frame.timestamp) stamp(turn.userItem, frame.timestamp);
    if (turn.item && !turn.done && !turn.parts.length) setPlaceholder(turn, "Thinking…");
  }

  function onDelta(frame) {
    const turn = state.turns.get(frame.messageId);
    if (!turn || turn.done || !Number.isInteger(frame.index) || frame.index < 0) return;
    turn.parts[frame.index] = String(frame.content ?? "");
    turn.item.dataset.state = "streaming";
    turn.content.classList.remove("placeholder");
    // Fragments may arrive out of order; join() leaves gaps empty until they are filled.
    const text = turn.parts.join("");
    const renderer = render();
    if (renderer && typeof renderer.streaming === "function") {
      turn.content.classList.remove("plain");
      renderer.streaming(turn.content, text);
    } else {
      turn.content.classList.add("plain");
      turn.content.textContent = text;
    }
    scrollToEnd();
  }

  function onMessage(frame) {
    const turn = ensureTurn(frame.messageId, null, { withAnswer: true });
    finishAnswer(turn, frame.messageId, frame);
    updateComposer();
    scrollToEnd();
  }

  function onError(frame) {
    const text = typeof frame.message === "string" && frame.message ? frame.message : "Something went wrong.";
    const turn = frame.messageId ? state.turns.get(frame.messageId) : null;
    if (frame.code === "UNKNOWN_ACTION") {
      if (turn && turn.cancelling) {
        // This server cannot stop an answer: the answer goes on, and no more Stop buttons.
        turn.cancelling = false;
        state.cancelUnsupported = true;
        el.note.textContent = "Stopping isn't available on this server.";
        updateComposer();
        return;
      }
      if (!frame.messageId && state.listingSessions) {
        // No server-side list here: the one this browser keeps stays.
        state.listingSessions = false;
        return;
      }
    }
    if (turn && state.pendingFeedback.has(frame.messageId)) {
      state.pendingFeedback.delete(frame.messageId);
      if (turn.feedbackNote) turn.feedbackNote.textContent = text;
      return;
    }
    if (turn && turn.item && !turn.done) {
      // Not by colour alone: screen readers hear that this bubble is an error.
      settleTurn(turn, "error", "Error:", text, "message-error");
      if (frame.retryable) addRetryButton(turn, frame.messageId);
      updateComposer();
      // The person just sent this; the reason it failed must be in view.
      scrollToEnd(true);
      return;
    }
    addNotice(text, "error");
  }

  // --- rendering ----------------------------------------------------------------------

  function ensureTurn(messageId, userText, { withAnswer, parent = el.list, queued = false }) {
    let turn = state.turns.get(messageId);
    if (!turn) {
      turn = { userItem: null, item: null, content: null, parts: [], done: false, userText: userText || "", queued };
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
      turn.content = turn.item.querySelector(".content");
      setPlaceholder(turn, queued ? WAITING_TEXT : "Sending…");
      parent.appendChild(turn.item);
    }
    updateWelcome();
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

  // A bubble's time, on hover (and to screen readers through <time>).
  function stamp(item, iso) {
    const when = window.ChatConversations.formatTime(iso);
    if (!item || !when) return;
    item.title = when;
    let time = item.querySelector("time");
    if (!time) {
      time = document.createElement("time");
      time.className = "visually-hidden";
      item.querySelector(".visually-hidden").after(time);
    }
    time.dateTime = String(iso);
    time.textContent = `At ${when}: `;
  }

  function setPlaceholder(turn, text) {
    turn.done = false;
    turn.item.dataset.state = text === WAITING_TEXT ? "queued" : "pending";
    turn.item.classList.remove("error");
    turn.item.setAttribute("aria-busy", "true");
    turn.content.dataset.testid = "message-content";
    turn.content.classList.add("placeholder", "plain");
    turn.content.textContent = text;
  }

  // A turn's bubble, done: its state ("complete" or "error"), the label screen readers hear,
  // its final text and the test id of that text.
  function settleTurn(turn, outcome, label, text, testid) {
    turn.done = true;
    turn.answered = outcome === "complete";
    turn.item.dataset.state = outcome;
    turn.item.classList.toggle("error", outcome === "error");
    turn.item.setAttribute("aria-busy", "false");
    turn.item.querySelector(".visually-hidden").textContent = label;
    turn.content.classList.remove("placeholder");
    turn.content.classList.add("plain");
    turn.content.textContent = text;
    turn.content.dataset.testid = testid;
    for (const stale of turn.item.querySelectorAll(".sources, .actions, .retry, .stopped-note")) stale.remove();
  }

  function finishAnswer(turn, messageId, message) {
    // An earlier error in this bubble (say, before a resend) no longer applies.
    settleTurn(turn, "complete", "Assistant:", String(message.content ?? ""), "message-content");
    turn.message = message;
    stamp(turn.item, message.timestamp);
    const renderer = render();
    if (renderer) {
      turn.content.classList.remove("plain");
      renderer.answer(turn.content, message);
    } else if (Array.isArray(message.sources) && message.sources.length) {
      turn.item.appendChild(sourceList(message.sources));
    }
    if (message.stopped === true) {
      turn.item.dataset.stopped = "true";
      const note = document.createElement("p");
      note.className = "stopped-note";
      note.dataset.testid = "stopped-note";
      note.textContent = "You stopped this answer.";
      turn.item.appendChild(note);
    }
    turn.item.appendChild(answerActions(turn, messageId, message));
    updateRegenerate();
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

  function smallButton(text, testid, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "action-button";
    button.dataset.testid = testid;
    button.textContent = text;
    button.addEventListener("click", onClick);
    return button;
  }

  function answerActions(turn, messageId, message) {
    const bar = document.createElement("div");
    bar.className = "actions";
    const note = document.createElement("span");
    note.className = "feedback-note";
    note.setAttribute("aria-live", "polite");
    turn.feedbackNote = note;
    const copy = smallButton("Copy", "copy-button", async () => {
      const renderer = render();
      const text = renderer && typeof renderer.copyText === "function" ? renderer.copyText(message) : String(message.content ?? "");
      note.textContent = (await copyToClipboard(text)) ? "Copied." : "Copying failed; select the text instead.";
    });
    const regenerate = smallButton("Regenerate", "regenerate-button", () => {
      if (submit(turn.userText)) el.input.focus();
    });
    regenerate.classList.add("regenerate");
    regenerate.hidden = true;
    bar.append(copy, regenerate, feedbackControls(turn, messageId, message.feedback), note);
    return bar;
  }

  async function copyToClipboard(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (_error) {
      // Refused (permissions, an unfocused page): try the old way below.
    }
    const scratch = document.createElement("textarea");
    scratch.value = text;
    scratch.setAttribute("readonly", "");
    scratch.className = "visually-hidden";
    document.body.appendChild(scratch);
    scratch.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (_error) {
      copied = false;
    }
    scratch.remove();
    return copied;
  }

  // Only the newest answer can be regenerated.
  function updateRegenerate() {
    const buttons = [...el.list.querySelectorAll(".regenerate")];
    buttons.forEach((button, n) => {
      button.hidden = n !== buttons.length - 1;
    });
  }

  function feedbackControls(turn, messageId, given) {
    const group = document.createElement("div");
    group.className = "feedback";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Rate this answer");
    const buttons = [];
    const rate = (rating, comment) => {
      const frame = { action: "feedback", messageId, rating };
      if (comment) frame.comment = comment;
      if (!send(frame)) {
        turn.feedbackNote.textContent = "Not connected; try again when reconnected.";
        return false;
      }
      state.pendingFeedback.set(messageId, rating);
      for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.rating === rating));
      turn.feedbackNote.textContent = "";
      return true;
    };
    for (const [rating, label] of [
      ["up", "Helpful"],
      ["down", "Not helpful"],
    ]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "feedback-button";
      button.dataset.testid = `feedback-${rating}`;
      button.dataset.rating = rating;
      button.setAttribute("aria-label", label);
      button.setAttribute("aria-pressed", String(given === rating));
      button.title = label;
      button.appendChild(thumbIcon(rating));
      button.addEventListener("click", () => {
        if (rate(rating) && rating === "down") group.after(commentBox(turn, rate));
        else if (rating === "up") turn.item.querySelector(".comment-box")?.remove();
      });
      buttons.push(button);
      group.appendChild(button);
    }
    return group;
  }

  // After a thumbs-down: an optional word on what was wrong, sent with the same rating.
  function commentBox(turn, rate) {
    turn.item.querySelector(".comment-box")?.remove();
    const box = document.createElement("form");
    box.className = "comment-box";
    box.dataset.testid = "comment-box";
    box.setAttribute("aria-label", "What was wrong with this answer?");
    const label = document.createElement("label");
    const field = document.createElement("textarea");
    field.id = `comment-${turn.item.dataset.messageId}`;
    field.maxLength = MAX_COMMENT_CHARS;
    field.rows = 2;
    field.dataset.testid = "comment-input";
    label.htmlFor = field.id;
    label.textContent = "What was wrong? (optional)";
    const submitButton = document.createElement("button");
    submitButton.type = "submit";
    submitButton.textContent = "Send comment";
    submitButton.dataset.testid = "comment-send";
    box.append(label, field, submitButton);
    box.addEventListener("submit", (event) => {
      event.preventDefault();
      const comment = field.value.trim().slice(0, MAX_COMMENT_CHARS);
      if (comment && rate("down", comment)) {
        box.remove();
        el.input.focus();
      }
    });
    queueMicrotask(() => field.focus());
    return box;
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
      // The same messageId: the server retries a failed answer in place, and an id it never
      // stored (RATE_LIMITED) is simply new to it; a fresh id would duplicate the question.
      button.remove();
      turn.parts = [];
      if (sendQuestion(messageId, turn.userText)) {
        setPlaceholder(turn, "Sending…");
      } else {
        turn.queued = true;
        setPlaceholder(turn, WAITING_TEXT);
      }
      updateComposer();
      el.input.focus();
    });
    turn.item.appendChild(button);
  }

  function addNotice(text, kind = "info") {
    const item = document.createElement("li");
    item.className = `notice ${kind}`;
    item.dataset.testid = kind === "error" ? "notice-error" : "notice";
    item.textContent = text;
    el.list.appendChild(item);
    updateWelcome();
    scrollToEnd();
  }

  function updateWelcome() {
    el.welcome.hidden = el.list.children.length > 0;
    el.scroller.hidden = !el.welcome.hidden;
  }

  // A long question scrolls inside its bubble; keyboard users must be able to reach it.
  function markScrollable() {
    for (const content of el.list.querySelectorAll(".message.user .content:not([tabindex])")) {
      if (content.scrollHeight > content.clientHeight + 1) {
        content.tabIndex = 0;
        content.setAttribute("role", "region");
        content.setAttribute("aria-label", "Your message");
      }
    }
  }

  function nearEnd() {
    return el.scroller.scrollHeight - el.scroller.scrollTop - el.scroller.clientHeight < NEAR_END_PX;
  }

  function scrollToEnd(force = false) {
    // No smooth scrolling: it leaves scrollTop behind and the next check would think we moved.
    // Do not yank the view away from someone reading older messages.
    if (force || nearEnd()) el.scroller.scrollTop = el.scroller.scrollHeight;
    updateJump();
  }

  function streaming() {
    return [...state.turns.values()].some((turn) => turn.item && !turn.done && !turn.queued);
  }

  function updateJump() {
    el.jump.hidden = nearEnd() || !streaming();
  }

  el.scroller.addEventListener(
    "scroll",
    () => {
      maybeLoadOlder();
      updateJump();
    },
    { passive: true },
  );

  el.jump.addEventListener("click", () => {
    scrollToEnd(true);
    el.jump.hidden = true;
    el.input.focus();
  });

  // The wheel over the header, the composer or the margins scrolls the conversation too.
  document.addEventListener(
    "wheel",
    (event) => {
      if (event.target.closest && event.target.closest("#message-scroller, .sidebar, textarea")) return;
      const step = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? el.scroller.clientHeight : 1;
      el.scroller.scrollTop += event.deltaY * step;
    },
    { passive: true },
  );

  // --- sending ------------------------------------------------------------------------

  function newMessageId() {
    // randomUUID needs a secure context; plain-http LAN hosts fall back to getRandomValues.
    if (typeof crypto.randomUUID === "function") return `m-${crypto.randomUUID()}`;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `m-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  function sendQuestion(messageId, content) {
    const frame = { action: "sendMessage", messageId, content, timestamp: new Date().toISOString() };
    if (state.session) frame.sessionId = state.session.sessionId;
    return send(frame);
  }

  function noteActivity(question) {
    if (state.session) {
      state.conversations.touch(state.session, { question });
    } else if (!state.unlistedQuestion) {
      // Asked before the `session` frame named the conversation: listed when it does.
      state.unlistedQuestion = question;
    }
  }

  // A question, sent now or (offline) queued in view until the connection is back.
  function submit(text) {
    const content = text.trim();
    if (!content || content.length > MAX_CONTENT_CHARS) return false;
    const messageId = newMessageId();
    const sent = state.connected && sendQuestion(messageId, content);
    ensureTurn(messageId, content, { withAnswer: true, queued: !sent });
    if (sent) noteActivity(content);
    markScrollable();
    updateComposer();
    scrollToEnd(true);
    return true;
  }

  // Answers still in flight, newest last (a queued one has not left the page).
  function inFlight() {
    return [...state.turns.entries()].filter(([, turn]) => turn.item && !turn.done && !turn.queued);
  }

  function updateComposer() {
    const length = el.input.value.trim().length;
    const over = length > MAX_CONTENT_CHARS;
    el.send.disabled = length === 0 || over;
    el.charCount.textContent = over
      ? `${length} / ${MAX_CONTENT_CHARS}: too long to send, please shorten it.`
      : length > MAX_CONTENT_CHARS * 0.9
        ? `${length} / ${MAX_CONTENT_CHARS}`
        : "";
    el.charCount.classList.toggle("over", over);
    el.input.setAttribute("aria-invalid", String(over));
    el.stop.hidden = state.cancelUnsupported || !state.connected || inFlight().length === 0;
    if (el.stop.hidden && document.activeElement === el.stop) el.input.focus();
  }

  // Questions that went out but may not have reached the server before the drop wait too.
  function markUnsentAsWaiting() {
    for (const turn of state.turns.values()) {
      if (turn.item && !turn.done && !turn.parts.length) {
        turn.queued = true;
        setPlaceholder(turn, WAITING_TEXT);
      }
    }
  }

  function grow() {
    el.input.style.height = "auto";
    el.input.style.height = `${el.input.scrollHeight + 2}px`;
  }

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit(el.input.value)) {
      el.input.value = "";
      grow();
      updateComposer();
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

  el.input.addEventListener("input", () => {
    grow();
    updateComposer();
  });

  el.stop.addEventListener("click", () => {
    const running = inFlight();
    if (running.length) {
      const [messageId, turn] = running[running.length - 1];
      turn.cancelling = true;
      send({ action: "cancel", messageId });
    }
    el.input.focus();
  });

  for (const example of document.querySelectorAll("[data-testid='example-prompt']")) {
    example.addEventListener("click", () => {
      submit(example.textContent);
      el.input.focus();
    });
  }

  // --- conversations ------------------------------------------------------------------

  function clearConversation() {
    state.turns.clear();
    state.unlistedQuestion = null;
    state.pendingFeedback.clear();
    resetHistory();
    el.list.replaceChildren();
    el.note.textContent = "";
    updateWelcome();
    updateComposer();
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
    connect();
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
    updateWelcome();
    updateComposer();
    const config = await resolveConfig();
    state.baseUrl = config.websocketUrl;
    let listKey = LIST_KEY;
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
      listKey = `${LIST_KEY}.${user.sub}`;
      el.signOut.hidden = false;
      if (user.email) el.signOut.title = `Signed in as ${user.email}`;
    }
    state.conversations = window.ChatConversations.create(listKey, drawConversations);
    state.session = loadSession();
    drawConversations();
    connect();
  }

  start();
})();
