// The list of a person's conversations, kept in localStorage (or, signed in, the server's
// `sessions` frame), and the sidebar that shows it. No framework: text via textContent only.
"use strict";

(() => {
  const MAX_ENTRIES = 50;
  const TITLE_CHARS = 80;

  function title(text) {
    const flat = String(text ?? "").replace(/\s+/g, " ").trim();
    return flat.length > TITLE_CHARS ? `${flat.slice(0, TITLE_CHARS - 1)}…` : flat;
  }

  function valid(entry) {
    return Boolean(entry) && typeof entry.sessionId === "string" && typeof entry.sessionToken === "string";
  }

  // A list bound to one localStorage key; ``onChange`` redraws whatever shows it.
  function create(storageKey, onChange) {
    let entries = [];
    try {
      const stored = JSON.parse(localStorage.getItem(storageKey) || "[]");
      if (Array.isArray(stored)) entries = stored.filter(valid);
    } catch (_error) {
      // Corrupt or unavailable storage: an empty list rather than a page that fails to load.
    }

    function sorted() {
      return [...entries].sort((a, b) => String(b.lastActivity).localeCompare(String(a.lastActivity)));
    }

    function save() {
      entries = sorted().slice(0, MAX_ENTRIES);
      try {
        localStorage.setItem(storageKey, JSON.stringify(entries));
      } catch (_error) {
        // Private modes may refuse storage; the list then lasts as long as the page.
      }
      onChange();
    }

    return {
      all: sorted,
      find(sessionId) {
        return entries.find((entry) => entry.sessionId === sessionId) || null;
      },
      // Record activity in a conversation: a question asked (``question``) or history seen.
      touch(session, { question = null, at = new Date().toISOString(), createdAt = null } = {}) {
        if (!valid(session)) return;
        let entry = entries.find((known) => known.sessionId === session.sessionId);
        if (!entry) {
          if (!question) return; // an empty conversation is not worth listing
          entry = { sessionId: session.sessionId, sessionToken: session.sessionToken, title: "", createdAt: createdAt || at, lastActivity: at };
          entries.push(entry);
        }
        if (!entry.title && question) entry.title = title(question);
        if (String(at) > String(entry.lastActivity)) entry.lastActivity = at;
        save();
      },
      remove(sessionId) {
        entries = entries.filter((entry) => entry.sessionId !== sessionId);
        save();
      },
      // The server's list (signed in): it replaces what this browser kept.
      replace(serverEntries) {
        entries = (Array.isArray(serverEntries) ? serverEntries : [])
          .filter(valid)
          .map((entry) => ({
            sessionId: entry.sessionId,
            sessionToken: entry.sessionToken,
            title: title(entry.title),
            createdAt: String(entry.createdAt ?? ""),
            lastActivity: String(entry.lastActivity ?? entry.createdAt ?? ""),
          }));
        save();
      },
    };
  }

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
  }

  // Draw ``list`` into the <ul> ``container``; ``currentId`` is marked, ``onPick(entry)`` on click.
  function render(container, list, currentId, onPick) {
    const items = list.all().map((entry) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "conversation";
      button.dataset.testid = "conversation";
      button.dataset.sessionId = entry.sessionId;
      button.textContent = entry.title || "Untitled conversation";
      const when = formatTime(entry.lastActivity);
      if (when) button.title = `Last message ${when}`;
      if (entry.sessionId === currentId) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => onPick(entry));
      item.appendChild(button);
      return item;
    });
    if (!items.length) {
      const item = document.createElement("li");
      item.className = "conversation-empty";
      item.textContent = "Your conversations will appear here.";
      items.push(item);
    }
    container.replaceChildren(...items);
  }

  window.ChatConversations = { create, render, title, formatTime };
})();
