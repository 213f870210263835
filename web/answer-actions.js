// What a person can do with an answer: copy it, regenerate the newest, rate it (with a
// comment after a thumbs-down), and try a failed one again.
"use strict";

(() => {
  const app = window.ChatApp;
  const { el, state, render, WAITING_TEXT } = app;

  const MAX_COMMENT_CHARS = 1000;
  const THUMB_PATHS = {
    up: "M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h3zm0 0 4-8a3 3 0 0 1 3 3v4h5.5a2 2 0 0 1 2 2.3l-1.4 8A2 2 0 0 1 18.1 21H7",
    down: "M17 14V3h3a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1h-3zm0 0-4 8a3 3 0 0 1-3-3v-4H4.5a2 2 0 0 1-2-2.3l1.4-8A2 2 0 0 1 5.9 3H17",
  };

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
      if (app.composer.submit(turn.userText)) el.input.focus();
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
      if (!app.connection.send(frame)) {
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
      if (app.composer.sendQuestion(messageId, turn.userText)) {
        app.turns.setPlaceholder(turn, "Sending…");
      } else {
        turn.queued = true;
        app.turns.setPlaceholder(turn, WAITING_TEXT);
      }
      app.composer.updateComposer();
      el.input.focus();
    });
    turn.item.appendChild(button);
  }

  app.actions = { answerActions, updateRegenerate, addRetryButton };
})();
