"""render.js in a real browser, in the page `chatbot serve` serves: Markdown, citations,
sources, tools and badge rendered; hostile content inert; streaming converging on the
final render; /vendor/ serving exactly the pinned libraries."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from chatbot import web_assets
from tests.e2e.conftest import UI_TIMEOUT_MS
from tests.e2e.served import ServerProcess, running_server

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture turns this into a failure that says what to run
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.e2e

SERVER_START_TIMEOUT_S = 120.0
# What the page needs before render.js, in order; index.html may load them itself.
SCRIPTS = ["vendor/marked.js", "vendor/purify.js", "vendor/highlight.js", "render.js"]

CLAUDE_ANSWER = """## Deploying the stack

The stack deploys in **three** steps [1], and the page is *served* by CloudFront [2] [9].

| Step | Command | Time |
|------|---------|-----:|
| Synth | `make synth` | 1 min |
| Deploy | `make deploy` | 8 min |

1. Bootstrap the account
2. Deploy
   - check the outputs

> The first deploy takes the longest.

```python
def handler(event, context):
    return {"statusCode": 200}
```

See [the CDK guide](https://docs.aws.amazon.com/cdk/) or [write to us](mailto:ops@example.com).
"""

RAG_MESSAGE: dict[str, Any] = {
    "type": "message",
    "content": CLAUDE_ANSWER,
    "queryType": "rag",
    "sources": ["/home/alice/docs/deploy.md", "guides/hosting.md"],
    "toolsUsed": [],
    "citations": [
        {
            "id": "3f1c9e",
            "source": "/home/alice/docs/deploy.md",
            "score": 0.8731,
            "excerpt": "Run make deploy once the account is bootstrapped.",
        },
        {
            "id": "77ab02",
            "source": "guides/hosting.md",
            "score": 0.0164,
            "excerpt": "CloudFront serves the page from a private bucket.",
        },
    ],
    "usage": {"inputTokens": 1234, "outputTokens": 56, "latencyMs": 1500, "costUsd": 0.0042},
}

HOSTILE = """<img src=x onerror="window.__pwned='img'">
<script>window.__pwned='script'</script>
<iframe src="https://example.com/frame"></iframe>
<object data="https://example.com/object"></object><embed src="https://example.com/embed">
<form action="https://example.com/form"><input name=q><button>go</button></form>
<div id="bait" onclick="window.__pwned='click'" onmouseover="window.__pwned='hover'">bait</div>
<svg onload="window.__pwned='svg'"><circle r="5"></circle></svg>
<details open ontoggle="window.__pwned='toggle'">toggle</details>
<a href="data:text/html,<script>parent.__pwned='data'</script>">data link</a>
<a href="javascript:window.__pwned='raw'">raw link</a>
<style>body { background: url(https://example.com/style.png) }</style>
<link rel="stylesheet" href="https://example.com/sheet.css">
<p style="background: url(https://example.com/inline.png)">styled</p>

[markdown link](javascript:window.__pwned='md') and [mixed case](JaVaScRiPt:alert(1))
and [data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)

![remote](https://example.com/remote.png)

<img src="https://example.com/raw.png">
"""

INERT_REPORT = """(el) => ({
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  live: Array.from(el.querySelectorAll(
    "script, iframe, object, embed, form, input, img, svg, style, link, video, audio"
  )).map((node) => node.tagName),
  handlers: Array.from(el.querySelectorAll("*")).flatMap((node) =>
    node.getAttributeNames().filter((name) => name.startsWith("on") || name === "style")),
  hrefs: Array.from(el.querySelectorAll("[href]")).map((node) => node.getAttribute("href")),
  srcs: Array.from(el.querySelectorAll("[src], [srcset], [action], [data]")).length,
})"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from running_server(tmp_path_factory.mktemp("chatbot-state"), SERVER_START_TIMEOUT_S)


class RenderPage:
    """The served index.html with render.js loaded, every request it made, and its errors."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(url)
        for script in SCRIPTS:
            if not page.evaluate("() => !!window.ChatRender"):
                page.add_script_tag(url=script)
        if not page.evaluate("() => !!document.querySelector('link[href$=\"markdown.css\"]')"):
            page.add_style_tag(url="markdown.css")

    def answer(self, message: dict[str, Any]) -> Locator:
        """A fresh element at the top of the page, rendered by ChatRender.answer."""
        self.page.evaluate(
            """(message) => {
              const el = document.createElement("div");
              el.dataset.testid = "rendered";
              document.body.prepend(el);
              window.ChatRender.answer(el, message);
            }""",
            message,
        )
        return self.page.locator("[data-testid=rendered]").first

    def remote_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme != "data" and urlsplit(url).hostname != "127.0.0.1"
        ]


@pytest.fixture
def render(browser: Browser, server: ServerProcess) -> Iterator[RenderPage]:
    context = browser.new_context()
    try:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = RenderPage(context.new_page(), server.url)
        yield page
        assert not page.errors, f"uncaught errors in the page: {page.errors}"
    finally:
        context.close()


def test_markdown_answer_renders_table_lists_quote_links_and_highlighted_code(
    render: RenderPage,
) -> None:
    el = render.answer(RAG_MESSAGE)
    expect(el.locator(".answer-content h2")).to_have_text("Deploying the stack")
    expect(el.locator("table th")).to_have_text(["Step", "Command", "Time"])
    expect(el.locator("table tbody tr")).to_have_count(2)
    expect(el.locator(".answer-content > ol > li")).to_have_count(2)
    expect(el.locator(".answer-content ol ul > li")).to_have_text("check the outputs")
    expect(el.locator("blockquote").first).to_have_text("The first deploy takes the longest.")
    expect(el.locator("strong")).to_have_text("three")
    code = el.locator("pre > code.hljs.language-python")
    expect(code).to_contain_text('return {"statusCode": 200}')
    assert code.locator("span[class^=hljs-]").count() >= 3
    guide = el.locator("a", has_text="the CDK guide")
    expect(guide).to_have_attribute("href", "https://docs.aws.amazon.com/cdk/")
    expect(guide).to_have_attribute("target", "_blank")
    expect(guide).to_have_attribute("rel", "noopener noreferrer")
    expect(el.locator("a", has_text="write to us")).to_have_attribute(
        "href", "mailto:ops@example.com"
    )
    copy = el.locator(".code-block .code-copy")
    expect(copy).to_have_count(1)
    copy.click()
    expect(copy).to_have_text("Copied")
    copied = render.page.evaluate("() => navigator.clipboard.readText()")
    assert copied == 'def handler(event, context):\n    return {"statusCode": 200}\n'
    assert render.page.evaluate("(m) => window.ChatRender.copyText(m)", RAG_MESSAGE) == (
        CLAUDE_ANSWER
    )


def test_each_citation_links_to_its_numbered_source_which_opens_its_excerpt_and_score(
    render: RenderPage,
) -> None:
    el = render.answer(RAG_MESSAGE)
    refs = el.locator("a.cite-ref")
    # [9] has no citation: it stays text.
    expect(refs).to_have_text(["[1]", "[2]"])
    expect(el.locator(".answer-content")).to_contain_text("[9]")
    sources = el.locator(".answer-sources-list > li")
    expect(sources.locator("summary")).to_have_text(["[1] deploy.md", "[2] guides/hosting.md"])
    assert "/home/alice" not in el.inner_text()
    excerpt = el.locator(".answer-source-excerpt")
    expect(excerpt.first).to_be_hidden()

    refs.nth(1).click()
    second = sources.nth(1).locator("details")
    expect(second).to_have_attribute("open", "")
    expect(second.locator(".answer-source-score")).to_have_text("Score 0.016")
    expect(second.locator("blockquote")).to_have_text(
        "CloudFront serves the page from a private bucket."
    )

    # By keyboard: focus [1], Enter opens the first source and moves focus to it.
    refs.first.focus()
    render.page.keyboard.press("Enter")
    first = sources.first.locator("details")
    expect(first).to_have_attribute("open", "")
    expect(first.locator(".answer-source-score")).to_have_text("Score 0.87")
    expect(first.locator("summary")).to_be_focused()


def test_badge_names_the_path_and_shows_the_usage_on_focus(render: RenderPage) -> None:
    el = render.answer(RAG_MESSAGE)
    badge = el.locator(".answer-badge")
    expect(badge).to_have_text("Documents")
    usage = el.locator(".answer-usage")
    expect(usage).to_be_hidden()
    badge.focus()
    expect(usage).to_be_visible()
    expect(usage).to_have_text("Tokens: 1,234 in, 56 out · Latency: 1.5 s · Cost: $0.0042")
    expect(badge).to_have_attribute("aria-describedby", usage.get_attribute("id") or "")
    badge.blur()
    expect(usage).to_be_hidden()
    badge.hover()
    expect(usage).to_be_visible()


@pytest.mark.parametrize(
    ("extra", "statuses"),
    [
        ({}, [("get_weather", "ran")]),
        (
            {
                "tools": [
                    {"name": "get_weather", "success": True},
                    {"name": "lookup", "success": False},
                ]
            },
            [("get_weather", "succeeded"), ("lookup", "failed")],
        ),
    ],
    ids=["names-only", "with-success-flags"],
)
def test_a_tool_answer_shows_the_tools_that_ran_and_the_tools_badge(
    render: RenderPage, extra: dict[str, Any], statuses: list[tuple[str, str]]
) -> None:
    message = {"content": "It is 21 °C.", "queryType": "mcp_tool", "toolsUsed": ["get_weather"]}
    el = render.answer(message | extra)
    expect(el.locator(".answer-badge")).to_have_text("Tools")
    tools = el.locator(".answer-tool")
    expect(tools.locator(".answer-tool-name")).to_have_text([name for name, _ in statuses])
    expect(tools.locator(".answer-tool-status")).to_have_text([status for _, status in statuses])
    expect(el.locator(".answer-sources")).to_have_count(0)
    el.locator(".answer-badge").focus()
    expect(el.locator(".answer-usage")).to_have_text("Usage not recorded for this answer")


def test_a_conversation_answer_has_the_conversation_badge(render: RenderPage) -> None:
    el = render.answer({"content": "Hello!", "queryType": "general", "sources": []})
    expect(el.locator(".answer-badge")).to_have_text("Conversation")
    expect(el.locator(".answer-tools, .answer-sources")).to_have_count(0)


def test_hostile_markdown_html_documents_and_tools_are_inert(render: RenderPage) -> None:
    message = {
        "content": HOSTILE + "\nas the document says [1]",
        "queryType": "rag",
        "toolsUsed": ["<img src=x onerror=\"window.__pwned='tool'\">"],
        "sources": ["<script>window.__pwned='source'</script>"],
        "citations": [
            {
                "id": "1",
                "source": "<svg onload=\"window.__pwned='source'\">",
                "score": 0.5,
                "excerpt": "<img src=x onerror=\"window.__pwned='excerpt'\">",
            }
        ],
    }
    el = render.answer(message)
    render.page.locator("#user-content-bait, [data-testid=rendered] div").first.hover()
    el.locator("a.cite-ref").click()
    # Every event a handler could hang on, on every rendered element.
    render.page.evaluate(
        """(el) => el.querySelectorAll(".answer-content *").forEach((node) => {
          for (const type of ["mouseover", "focus", "load", "error", "toggle"]) {
            node.dispatchEvent(new Event(type));
          }
          if (node.tagName !== "A") node.dispatchEvent(new MouseEvent("click", { bubbles: true }));
        })""",
        el.element_handle(),
    )
    render.page.wait_for_timeout(300)

    report = render.page.evaluate(INERT_REPORT, el.element_handle())
    assert report["pwned"] is None
    assert report["live"] == []
    assert report["handlers"] == []
    assert report["srcs"] == 0
    assert all(re.match(r"^(https?:|mailto:|#)", href) for href in report["hrefs"]), report
    assert not any("example.com/frame" in href for href in report["hrefs"])
    # The remote image is a link to it, never loaded; documents and tools show as text.
    expect(el.locator("a", has_text="Image: remote")).to_have_attribute(
        "href", "https://example.com/remote.png"
    )
    expect(el.locator(".answer-source-quote")).to_have_text(
        "<img src=x onerror=\"window.__pwned='excerpt'\">"
    )
    expect(el.locator(".answer-tool-name")).to_have_text(
        "<img src=x onerror=\"window.__pwned='tool'\">"
    )
    assert render.remote_requests() == []


STREAMED = CLAUDE_ANSWER + "\n## More\n\n" + "\n".join(f"- point {n}" for n in range(20))

STREAM = """async (text) => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const streamed = document.createElement("div");
  const final = document.createElement("div");
  document.body.prepend(streamed, final);
  let batches = 0;
  new MutationObserver(() => { batches += 1; })
    .observe(streamed, { childList: true, subtree: true, characterData: true });
  let heading = null;
  let busy = null;
  let highlightedWhileStreaming = false;
  for (let i = 1; i <= 50; i++) {
    ChatRender.streaming(streamed, text.slice(0, Math.ceil((text.length * i) / 50)));
    if (i % 5 === 0) {
      await frame();
      heading = heading || streamed.querySelector(".answer-content > h2");
      busy = streamed.getAttribute("aria-busy");
      highlightedWhileStreaming ||= !!streamed.querySelector(".hljs");
    }
  }
  await frame();
  await frame();
  const observedBatches = batches;
  ChatRender.answer(final, { content: text, queryType: "general" });
  const plain = (el) => {
    const copy = el.querySelector(".answer-content").cloneNode(true);
    copy.querySelectorAll("pre > code").forEach((code) => {
      code.textContent = code.textContent;
      code.classList.remove("hljs");
      code.removeAttribute("data-highlighted");
    });
    return copy.innerHTML;
  };
  const streamedHtml = plain(streamed);
  ChatRender.answer(streamed, { content: text, queryType: "general" });
  return {
    streamed: streamedHtml,
    final: plain(final),
    finalExact: final.querySelector(".answer-content").innerHTML,
    streamedThenFinal: streamed.querySelector(".answer-content").innerHTML,
    batches: observedBatches,
    headingKept: !!heading && streamed.querySelector(".answer-content > h2") === heading,
    busy,
    busyAfter: streamed.getAttribute("aria-busy"),
    highlightedWhileStreaming,
  };
}"""


def test_streaming_fifty_deltas_renders_once_per_frame_and_ends_as_the_final_answer(
    render: RenderPage,
) -> None:
    result = render.page.evaluate(STREAM, STREAMED)
    assert result["streamed"] == result["final"]
    assert result["streamedThenFinal"] == result["finalExact"]
    assert "<table>" in result["final"] and "<pre>" in result["final"]
    # 50 deltas, 12 frames awaited: one render a frame at most.
    assert 1 <= result["batches"] <= 12
    # The heading rendered first stays the same node: earlier blocks do not flicker.
    assert result["headingKept"]
    assert result["busy"] == "true" and result["busyAfter"] is None
    assert not result["highlightedWhileStreaming"]


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_vendor_serves_exactly_the_mapped_files_and_nothing_else(server: ServerProcess) -> None:
    for name, path in web_assets.vendor_files().items():
        status, body, headers = _get(f"{server.url}vendor/{name}")
        assert (status, body) == (200, path.read_bytes()), name
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        assert headers["Content-Type"] == f"{kind}; charset=utf-8"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path in [
        "vendor/",
        "vendor/marked.umd.js",
        "vendor/lodash.js",
        "vendor/../package.json",
        "vendor/%2e%2e/package.json",
        "vendor/marked/lib/marked.umd.js",
        "node_modules/marked/lib/marked.umd.js",
        "../node_modules/marked/lib/marked.umd.js",
    ]:
        status, _, _ = _get(server.url + path)
        assert status == 404, path


def test_a_source_is_listed_under_the_number_the_answer_cites_it_by(render: RenderPage) -> None:
    # Only the cited sources are listed, by their [n]: ids 1 and 3, with no 2.
    el = render.answer(
        {
            "type": "message",
            "content": "Deploy with make [1]. The page is served by CloudFront [3]. Not [2].",
            "queryType": "rag",
            "sources": ["deploy.md", "hosting.md"],
            "toolsUsed": [],
            "citations": [
                {"id": "1", "source": "deploy.md", "score": 0.9, "excerpt": "Run make deploy."},
                {"id": "3", "source": "hosting.md", "score": 0.5, "excerpt": "CloudFront."},
            ],
        }
    )
    refs = el.locator("a.cite-ref")
    # [2] names no listed source: text, not a link to the second one listed.
    expect(refs).to_have_text(["[1]", "[3]"])
    sources = el.locator(".answer-sources-list > li")
    expect(sources.locator("summary")).to_have_text(["[1] deploy.md", "[3] hosting.md"])
    expect(refs.nth(1)).to_have_attribute("aria-label", "Source 3: hosting.md")
    refs.nth(1).click()
    expect(sources.nth(1).locator("details")).to_have_attribute("open", "")
