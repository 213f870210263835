// Scrolling the conversation: following the answer being written unless the person scrolled
// away, the "Jump to latest" button, and the wheel anywhere on the page.
"use strict";

(() => {
  const app = window.ChatApp;
  const { el, state } = app;

  const NEAR_END_PX = 200;

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
      app.history.maybeLoadOlder();
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

  app.scroll = { markScrollable, scrollToEnd };
})();
