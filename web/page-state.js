// The chat page's shared ground, loaded before its other scripts: the page's elements, the
// state they all read and write, and window.ChatApp, where each script adds its functions
// (connection.js as ChatApp.connection, and so on) for the others to call.
// Server and user text goes through textContent, or through window.ChatRender (render.js),
// which sanitizes the Markdown it renders; never straight into innerHTML.
"use strict";

(() => {
  const STORAGE_KEY = "chatbot.session";
  const WAITING_TEXT = "Waiting for the connection…";

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

  window.ChatApp = { el, state, render, STORAGE_KEY, WAITING_TEXT };
})();
