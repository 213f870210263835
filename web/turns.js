// Turns on screen: a question's bubble and its answer's, from the first placeholder through
// streamed deltas to the final answer or error, and the notices between them.
"use strict";

(() => {
  const app = window.ChatApp;
  const { el, state, render, WAITING_TEXT } = app;

  // --- frames about a turn -----------------------------------------------------------

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
    app.scroll.scrollToEnd();
  }

  function onMessage(frame) {
    const turn = ensureTurn(frame.messageId, null, { withAnswer: true });
    finishAnswer(turn, frame.messageId, frame);
    app.composer.updateComposer();
    app.scroll.scrollToEnd();
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
        app.composer.updateComposer();
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
      if (frame.retryable) app.actions.addRetryButton(turn, frame.messageId);
      app.composer.updateComposer();
      // The person just sent this; the reason it failed must be in view.
      app.scroll.scrollToEnd(true);
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
    turn.item.appendChild(app.actions.answerActions(turn, messageId, message));
    app.actions.updateRegenerate();
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

  function addNotice(text, kind = "info") {
    const item = document.createElement("li");
    item.className = `notice ${kind}`;
    item.dataset.testid = kind === "error" ? "notice-error" : "notice";
    item.textContent = text;
    el.list.appendChild(item);
    updateWelcome();
    app.scroll.scrollToEnd();
  }

  function updateWelcome() {
    el.welcome.hidden = el.list.children.length > 0;
    el.scroller.hidden = !el.welcome.hidden;
  }

  app.turns = {
    onAck, onDelta, onMessage, onError,
    ensureTurn, stamp, setPlaceholder, settleTurn, finishAnswer, addNotice, updateWelcome,
  };
})();
