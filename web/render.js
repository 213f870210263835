// Renders answers: Markdown (marked), sanitized (DOMPurify), code highlighted (highlight.js),
// [n] linked to its citation, a numbered sources list, the tools that ran and a path badge
// with the usage. A classic script: load vendor/marked.js, vendor/purify.js and
// vendor/highlight.js before it. Defines window.ChatRender:
//   ChatRender.streaming(el, text)  the answer so far (whole text), at most once per frame
//   ChatRender.answer(el, message)  the final answer (a `message` frame or a history entry)
//   ChatRender.copyText(message)    the answer's Markdown text
// Only the Markdown's HTML is parsed as HTML, and only after DOMPurify; everything else
// (sources, excerpts, scores, tool names, usage) is set as text, never parsed.
(function () {
  "use strict";

  var PATHS = { rag: "Documents", general: "Conversation", mcp_tool: "Tools" };
  var CITE = /\[(\d{1,3})\]/g;
  var SKIP_CITES_IN = "a, code, pre";
  var ALLOWED_TAGS = [
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u",
    "del", "s", "sub", "sup", "kbd", "mark", "small", "code", "pre", "blockquote", "ul",
    "ol", "li", "dl", "dt", "dd", "a", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
    "caption", "span", "div", "abbr",
  ];
  var ALLOWED_ATTR = ["href", "title", "align", "class", "start", "colspan", "rowspan", "abbr"];
  var SAFE_URL = /^(?:https?:|mailto:|#)/i;
  var LANGUAGE_CLASS = /^language-[\w+#.-]{1,40}$/;

  var sequence = 0;
  var pending = new WeakMap(); // el -> {text, scheduled}

  // --- Markdown to sanitized HTML -------------------------------------------------------

  var purifier = null;
  var parser = null;

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function markdownParser() {
    if (parser) return parser;
    parser = new window.marked.Marked({
      gfm: true,
      breaks: false,
      async: false,
      renderer: {
        // No image is ever loaded: an image becomes a link to it (which DOMPurify vets).
        image: function (token) {
          var label = "Image: " + (token.text || token.href || "");
          return '<a href="' + escapeHtml(token.href || "") + '">' + escapeHtml(label) + "</a>";
        },
        // Task-list boxes as characters, not <input> elements.
        checkbox: function (token) {
          return token.checked ? "\u2611 " : "\u2610 ";
        },
      },
    });
    return parser;
  }

  function sanitizer() {
    if (purifier) return purifier;
    // An instance of our own, so that these hooks never touch another user of DOMPurify.
    purifier = window.DOMPurify(window);
    purifier.addHook("uponSanitizeAttribute", function (node, data) {
      // Classes only as marked writes them on code (language-x): content cannot dress up as UI.
      if (data.attrName === "class") {
        var kept = data.attrValue.split(/\s+/).filter(function (name) {
          return node.nodeName === "CODE" && LANGUAGE_CLASS.test(name);
        });
        if (kept.length) data.attrValue = kept.join(" ");
        else data.keepAttr = false;
      }
    });
    purifier.addHook("afterSanitizeAttributes", function (node) {
      if (node.nodeName !== "A") return;
      var href = node.getAttribute("href");
      if (href === null || href.charAt(0) === "#") return;
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    });
    return purifier;
  }

  function sanitizedFragment(markdown) {
    var html = markdownParser().parse(String(markdown || ""));
    return sanitizer().sanitize(html, {
      ALLOWED_TAGS: ALLOWED_TAGS,
      ALLOWED_ATTR: ALLOWED_ATTR,
      ALLOWED_URI_REGEXP: SAFE_URL,
      ALLOW_DATA_ATTR: false,
      ALLOW_ARIA_ATTR: false,
      ALLOW_UNKNOWN_PROTOCOLS: false,
      SANITIZE_NAMED_PROPS: true,
      KEEP_CONTENT: true,
      RETURN_DOM_FRAGMENT: true,
    });
  }

  // --- building blocks -----------------------------------------------------------------

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function copyToClipboard(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text);
    }
    return Promise.reject(new Error("no clipboard"));
  }

  function copyButton(code) {
    var button = make("button", "code-copy", "Copy");
    button.type = "button";
    button.setAttribute("aria-label", "Copy code");
    button.addEventListener("click", function () {
      copyToClipboard(code.textContent).then(
        function () { flash(button, "Copied"); },
        function () { flash(button, "Copy failed"); }
      );
    });
    return button;
  }

  function flash(button, label) {
    button.textContent = label;
    window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
  }

  // Each <pre><code> gets a header with its language and a copy button.
  function decorateCode(root) {
    root.querySelectorAll("pre > code").forEach(function (code) {
      var pre = code.parentNode;
      var block = make("div", "code-block");
      var header = make("div", "code-header");
      var match = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
      header.appendChild(make("span", "code-language", match ? match[1] : "code"));
      header.appendChild(copyButton(code));
      pre.parentNode.replaceChild(block, pre);
      block.appendChild(header);
      block.appendChild(pre);
    });
  }

  function highlight(root) {
    if (!window.hljs) return;
    root.querySelectorAll("pre > code").forEach(function (code) {
      var match = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
      if (match && !window.hljs.getLanguage(match[1])) return; // unknown: left plain
      // highlightElement reads textContent and writes escaped spans: nothing is re-parsed.
      window.hljs.highlightElement(code);
    });
  }

  // --- citations -----------------------------------------------------------------------

  // [n] refers to the citation whose id is n, else (ids are chunk ids) to the n-th one.
  // Numbered ids may skip (only what the answer cites is listed): no fallback then.
  function citationFor(citations, n) {
    for (var i = 0; i < citations.length; i++) {
      if (String(citations[i].id) === String(n)) return i;
    }
    if (citations.some(function (c) { return /^\d+$/.test(String(c.id)); })) return -1;
    return n >= 1 && n <= citations.length ? n - 1 : -1;
  }

  // The number a source is listed under: its id where that is the [n] cited, else its place.
  function citationNumber(citation, index) {
    return /^\d+$/.test(String(citation.id)) ? String(citation.id) : String(index + 1);
  }

  // A document's name: never a machine path (an absolute path is named by its file name).
  function displayName(source) {
    var text = String(source || "");
    var isAbsolute = /^(?:\/|~[\/\\]|[A-Za-z]:[\/\\]|\\\\|file:)/.test(text);
    if (!isAbsolute) return text || "Untitled document";
    var parts = text.replace(/[\/\\]+$/, "").split(/[\/\\]/);
    return parts[parts.length - 1] || "Untitled document";
  }

  function formatScore(score) {
    var value = Number(score);
    if (!isFinite(value)) return "";
    return "Score " + (Math.abs(value) >= 0.1 ? value.toFixed(2) : value.toPrecision(2));
  }

  function openCitation(details) {
    details.open = true;
    var summary = details.querySelector("summary");
    details.scrollIntoView({ block: "nearest" });
    if (summary) summary.focus();
  }

  function linkCitations(root, citations, idOf) {
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    var texts = [];
    while (walker.nextNode()) {
      var node = walker.currentNode;
      if (node.parentElement && node.parentElement.closest(SKIP_CITES_IN)) continue;
      CITE.lastIndex = 0;
      if (CITE.test(node.nodeValue)) texts.push(node);
    }
    texts.forEach(function (node) {
      var fragment = document.createDocumentFragment();
      var text = node.nodeValue;
      var last = 0;
      text.replace(CITE, function (whole, number, offset) {
        var index = citationFor(citations, Number(number));
        if (index < 0) return whole;
        fragment.appendChild(document.createTextNode(text.slice(last, offset)));
        var link = make("a", "cite-ref", "[" + number + "]");
        link.href = "#" + idOf(index);
        link.setAttribute(
          "aria-label",
          "Source " + citationNumber(citations[index], index) + ": " +
            displayName(citations[index].source)
        );
        link.addEventListener("click", function (event) {
          event.preventDefault();
          var details = document.getElementById(idOf(index));
          if (details) openCitation(details);
        });
        fragment.appendChild(link);
        last = offset + whole.length;
        return whole;
      });
      fragment.appendChild(document.createTextNode(text.slice(last)));
      node.parentNode.replaceChild(fragment, node);
    });
  }

  function sourcesList(citations, sources, idOf) {
    var section = make("section", "answer-sources");
    section.setAttribute("aria-label", "Sources");
    section.appendChild(make("h3", "answer-sources-title", "Sources"));
    var list = make("ol", "answer-sources-list");
    if (citations.length) {
      citations.forEach(function (citation, index) {
        var item = make("li", "answer-source");
        var details = make("details", "answer-source-details");
        details.id = idOf(index);
        var summary = make("summary", "answer-source-name");
        var number = "[" + citationNumber(citation, index) + "]";
        summary.appendChild(make("span", "answer-source-number", number));
        summary.appendChild(document.createTextNode(" " + displayName(citation.source)));
        details.appendChild(summary);
        var body = make("div", "answer-source-excerpt");
        body.appendChild(make("p", "answer-source-score", formatScore(citation.score)));
        body.appendChild(make("blockquote", "answer-source-quote", citation.excerpt || ""));
        details.appendChild(body);
        item.appendChild(details);
        list.appendChild(item);
      });
    } else {
      sources.forEach(function (source) {
        list.appendChild(make("li", "answer-source answer-source-name", displayName(source)));
      });
    }
    section.appendChild(list);
    return section;
  }

  // --- tools, badge, usage -------------------------------------------------------------

  // `tools` [{name, success}] where the frame has it; else toolsUsed, names only.
  function toolList(message) {
    var tools = Array.isArray(message.tools) ? message.tools : null;
    var names = Array.isArray(message.toolsUsed) ? message.toolsUsed : [];
    var rows = tools
      ? tools.map(function (tool) {
          var ok = typeof tool.success === "boolean" ? tool.success : tool.ok;
          return { name: tool.name, status: ok === true ? "ok" : ok === false ? "failed" : "ran" };
        })
      : names.map(function (name) { return { name: name, status: "ran" }; });
    if (!rows.length) return null;
    var section = make("div", "answer-tools");
    section.appendChild(make("span", "answer-tools-title", "Tools:"));
    var list = make("ul", "answer-tools-list");
    rows.forEach(function (row) {
      var item = make("li", "answer-tool");
      item.dataset.status = row.status;
      item.appendChild(make("span", "answer-tool-name", String(row.name || "tool")));
      var label = { ok: "succeeded", failed: "failed", ran: "ran" }[row.status];
      item.appendChild(make("span", "answer-tool-status", label));
      list.appendChild(item);
    });
    section.appendChild(list);
    return section;
  }

  function number(value) {
    return Number(value || 0).toLocaleString("en-US");
  }

  function usageText(usage) {
    if (!usage) return "Usage not recorded for this answer";
    var seconds = Number(usage.latencyMs || 0) / 1000;
    var cost = Number(usage.costUsd || 0);
    return (
      "Tokens: " + number(usage.inputTokens) + " in, " + number(usage.outputTokens) + " out" +
      " \u00b7 Latency: " + seconds.toFixed(seconds < 10 ? 1 : 0) + " s" +
      " \u00b7 Cost: $" + (cost < 0.01 ? cost.toFixed(4) : cost.toFixed(2))
    );
  }

  function badge(message, id) {
    var wrap = make("div", "answer-meta");
    var path = PATHS[message.queryType] ? message.queryType : "general";
    var button = make("button", "answer-badge", PATHS[path]);
    button.type = "button";
    button.dataset.path = path;
    button.setAttribute("aria-describedby", id);
    var tip = make("span", "answer-usage", usageText(message.usage));
    tip.id = id;
    tip.setAttribute("role", "tooltip");
    wrap.appendChild(button);
    wrap.appendChild(tip);
    return wrap;
  }

  // --- content, kept stable between renders ---------------------------------------------

  function contentOf(el) {
    var content = el.querySelector(":scope > .answer-content");
    if (!content) {
      content = make("div", "answer-content");
      el.replaceChildren(content);
    }
    return content;
  }

  // Replaces only the top-level blocks that changed: earlier paragraphs stay the same nodes.
  function morph(target, fragment) {
    var next = Array.prototype.slice.call(fragment.childNodes);
    var old = Array.prototype.slice.call(target.childNodes);
    next.forEach(function (node, i) {
      if (i < old.length) {
        if (!old[i].isEqualNode(node)) target.replaceChild(node, old[i]);
      } else {
        target.appendChild(node);
      }
    });
    for (var i = next.length; i < old.length; i++) target.removeChild(old[i]);
  }

  function renderContent(el, text, final) {
    var fragment = sanitizedFragment(text);
    var holder = make("div");
    holder.appendChild(fragment);
    if (final) highlight(holder);
    decorateCode(holder);
    // Copy buttons carry listeners: a changed block brings new ones, an unchanged one keeps its.
    var content = contentOf(el);
    morph(content, holder);
    return content;
  }

  function streaming(el, text) {
    var state = pending.get(el);
    if (!state) {
      state = { text: "", frame: 0, timer: 0 };
      pending.set(el, state);
    }
    state.text = String(text || "");
    if (state.frame) return;
    var run = function () {
      window.cancelAnimationFrame(state.frame);
      window.clearTimeout(state.timer);
      state.frame = 0;
      state.timer = 0;
      if (pending.get(el) !== state) return;
      el.setAttribute("aria-busy", "true");
      renderContent(el, state.text, false);
    };
    state.frame = window.requestAnimationFrame(run);
    // A hidden tab gets no frames: render anyway, less often.
    state.timer = window.setTimeout(run, 250);
  }

  function answer(el, message) {
    var state = pending.get(el);
    if (state) {
      window.cancelAnimationFrame(state.frame);
      window.clearTimeout(state.timer);
      pending.delete(el);
    }
    message = message || {};
    var id = "answer-" + (++sequence);
    var idOf = function (index) { return id + "-source-" + (index + 1); };
    var citations = Array.isArray(message.citations) ? message.citations : [];
    var sources = Array.isArray(message.sources) ? message.sources : [];

    var content = renderContent(el, message.content, true);
    // Only the content stays: the rest is rebuilt.
    el.replaceChildren(content);
    if (citations.length) linkCitations(content, citations, idOf);
    var tools = toolList(message);
    if (tools) el.appendChild(tools);
    if (citations.length || sources.length) el.appendChild(sourcesList(citations, sources, idOf));
    el.appendChild(badge(message, id + "-usage"));
    el.removeAttribute("aria-busy");
  }

  function copyText(message) {
    return String((message && message.content) || "");
  }

  window.ChatRender = Object.freeze({
    streaming: streaming,
    answer: answer,
    copyText: copyText,
  });
})();
