// The starter corpus's progress (chatbot/starter_corpus.py). On a first local run with an
// empty document index, the gateway ingests this project's README and docs/ in the
// background; this line says how far it got, then that documents questions can be asked.
// The local gateway answers starter-corpus.json itself; the deployed site serves the file in
// web/, which says "off". Whenever nothing was offered, the line stays hidden.
"use strict";

(() => {
  const POLL_MS = 1000;
  const line = document.getElementById("starter-status");
  if (!line) return;

  function count(value) {
    return Number.isInteger(value) && value >= 0 ? value : 0;
  }

  function show(state, text) {
    line.dataset.state = state;
    line.textContent = text;
    line.hidden = false;
  }

  async function poll() {
    let status;
    try {
      const response = await fetch("starter-corpus.json", { cache: "no-store" });
      if (!response.ok) return;
      status = await response.json();
    } catch (_error) {
      return; // not served here, or the server is gone: nothing to say
    }
    if (!status || typeof status.state !== "string") return;
    const done = count(status.filesDone);
    const total = count(status.filesTotal);
    if (status.state === "ingesting") {
      show(
        "ingesting",
        `Adding this project's README and docs/ as starter documents: ${done} of ${total} files…`,
      );
      setTimeout(poll, POLL_MS);
    } else if (status.state === "ready") {
      show(
        "ready",
        `Starter documents ready: ${total} files from this project's README and docs/. ` +
          "Ask about them, or add your own with chatbot ingest.",
      );
    } else if (status.state === "failed") {
      show(
        "failed",
        "The starter documents could not be added (the server's log says why); " +
          "chatbot ingest README.md docs adds them by hand.",
      );
    } else {
      line.hidden = true;
    }
  }

  poll();
})();
