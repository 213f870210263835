// Asking: the composer (its length limit, Enter to send, Stop), the example prompts, and
// questions sent now or queued in view while offline.
"use strict";

(() => {
  const app = window.ChatApp;
  const { el, state, WAITING_TEXT } = app;

  const MAX_CONTENT_CHARS = 8000;

  function newMessageId() {
    // randomUUID needs a secure context; plain-http LAN hosts fall back to getRandomValues.
    if (typeof crypto.randomUUID === "function") return `m-${crypto.randomUUID()}`;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `m-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  function sendQuestion(messageId, content) {
    const frame = { action: "sendMessage", messageId, content, timestamp: new Date().toISOString() };
    if (state.session) frame.sessionId = state.session.sessionId;
    return app.connection.send(frame);
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
    app.turns.ensureTurn(messageId, content, { withAnswer: true, queued: !sent });
    if (sent) noteActivity(content);
    app.scroll.markScrollable();
    updateComposer();
    app.scroll.scrollToEnd(true);
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
        app.turns.setPlaceholder(turn, WAITING_TEXT);
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
      app.connection.send({ action: "cancel", messageId });
    }
    el.input.focus();
  });

  for (const example of document.querySelectorAll("[data-testid='example-prompt']")) {
    example.addEventListener("click", () => {
      submit(example.textContent);
      el.input.focus();
    });
  }

  app.composer = { sendQuestion, noteActivity, submit, updateComposer, markUnsentAsWaiting };
})();
