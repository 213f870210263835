// The conversation's history: the page shown on (re)connecting, and older pages loaded as
// the person scrolls up, above what they are reading.
"use strict";

(() => {
  const app = window.ChatApp;
  const { el, state, WAITING_TEXT } = app;

  const HISTORY_LIMIT = 100;
  // How near the top (px) a scroll must come to load older messages.
  const OLDER_TRIGGER_PX = 80;

  function requestHistory(kind) {
    const frame = { action: "getHistory", limit: HISTORY_LIMIT };
    if (kind === "older") {
      const oldest = el.list.querySelector("li.message[data-message-id]");
      if (!oldest) return;
      frame.before = oldest.dataset.messageId;
    }
    if (app.connection.send(frame)) state.historyRequests.push(kind);
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
        const turn = app.turns.ensureTurn(entry.messageId, String(entry.content ?? ""), { withAnswer: false, parent });
        app.turns.stamp(turn.userItem, entry.timestamp);
        if (entry.status === "failed") {
          app.turns.ensureTurn(entry.messageId, null, { withAnswer: true, parent });
          app.turns.settleTurn(turn, "error", "Error:", "This message didn't get an answer.", "message-error");
          app.actions.addRetryButton(turn, entry.messageId);
        } else if (entry.status === "pending") {
          app.turns.ensureTurn(entry.messageId, null, { withAnswer: true, parent });
          app.turns.setPlaceholder(turn, "Waiting for the answer…");
        }
      } else if (entry.role === "assistant") {
        if (known && known.item && known.done && known.answered) continue;
        const turn = app.turns.ensureTurn(entry.messageId, null, { withAnswer: true, parent });
        app.turns.finishAnswer(turn, entry.messageId, entry);
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
      const again = app.turns.ensureTurn(messageId, turn.userText, { withAnswer: true });
      // Idempotent by messageId: the server acks it as a duplicate and repeats the answer
      // if it exists, or answers it now if the first attempt never reached it.
      if (app.composer.sendQuestion(messageId, turn.userText)) {
        if (turn.queued) app.composer.noteActivity(turn.userText);
        app.turns.setPlaceholder(again, "Sending…");
      } else {
        again.queued = true;
        app.turns.setPlaceholder(again, WAITING_TEXT);
      }
    }
    app.actions.updateRegenerate();
    app.composer.updateComposer();
    app.turns.updateWelcome();
    app.scroll.markScrollable();
    app.scroll.scrollToEnd(true);
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
    app.turns.updateWelcome();
    app.scroll.markScrollable();
    fillViewport();
  }

  // A first page too short to scroll would leave older messages unreachable: load on.
  function fillViewport() {
    if (state.hasMore && el.scroller.scrollHeight <= el.scroller.clientHeight) requestHistory("older");
  }

  app.history = { requestHistory, resetHistory, maybeLoadOlder, onHistory };
})();
