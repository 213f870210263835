"""The chat page in a real browser against `chatbot serve`: streaming, resume, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.clock import SystemClock
from chatbot.config import Settings
from chatbot.conversations import ConversationStore
from tests.e2e.conftest import UI_TIMEOUT_MS
from tests.e2e.seeding import seed_turns
from tests.e2e.served import ServerProcess, running_server

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture turns this into a failure that says what to run
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, WebSocket

pytestmark = pytest.mark.e2e

# The first answer may load the embedding model and build the index.
SERVER_START_TIMEOUT_S = 120.0
ANSWER_TIMEOUT_MS = 90_000
MAX_CONTENT_CHARS = 8000

Frame = dict[str, Any]


# --- the server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from running_server(tmp_path_factory.mktemp("chatbot-state"), SERVER_START_TIMEOUT_S)


# --- the browser ------------------------------------------------------------------------


class ChatPage:
    """The page plus every frame its WebSocket received, to compare screen and protocol."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.received: list[Frame] = []
        self.page_errors: list[str] = []
        self._socket: WebSocket | None = None
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.set_default_timeout(UI_TIMEOUT_MS)

    def open(self) -> None:
        self._load(lambda: self.page.goto(self.url))

    def reload(self) -> None:
        self._load(self.page.reload)

    def _load(self, navigate: Callable[[], object]) -> None:
        self.received.clear()
        with self.page.expect_websocket(timeout=UI_TIMEOUT_MS) as opened:
            navigate()
        self._socket = opened.value
        self._socket.on("framereceived", self._record)
        self.expect_connected()

    def _record(self, payload: str | bytes) -> None:
        self.received.append(json.loads(payload))

    def expect_connected(self) -> None:
        expect(self.page.get_by_test_id("connection-status")).to_have_attribute(
            "data-state", "connected"
        )
        expect(self.page.get_by_test_id("message-input")).to_be_editable()

    def send(self, text: str) -> str:
        """Type text and press Enter; returns the messageId the page put on the wire."""
        assert self._socket is not None
        box = self.page.get_by_test_id("message-input")
        box.fill(text)

        def is_send(payload: str | bytes) -> bool:
            return bool(json.loads(payload).get("action") == "sendMessage")

        with self._socket.expect_event("framesent", predicate=is_send) as sent:
            box.press("Enter")
        frame: Frame = json.loads(sent.value)
        assert frame["content"] == text.strip()
        return str(frame["messageId"])

    def wait_for_frame(self, matches: Callable[[Frame], bool], timeout_ms: float) -> Frame:
        """The first received frame that matches, waiting for more while none does."""
        assert self._socket is not None
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            # Sync Playwright delivers events only inside its own calls, so nothing can
            # arrive between this scan and the wait below.
            for frame in self.received:
                if matches(frame):
                    return frame
            remaining_ms = (deadline - time.monotonic()) * 1000
            if remaining_ms <= 0:
                pytest.fail(f"no matching frame within {timeout_ms} ms; got {self.received}")
            self._socket.wait_for_event("framereceived", timeout=remaining_ms)

    def wait_for_outcome(self, message_id: str) -> Frame:
        """The final `message` or `error` frame about one user message."""
        return self.wait_for_frame(
            lambda frame: (
                frame.get("type") in ("message", "error") and frame.get("messageId") == message_id
            ),
            ANSWER_TIMEOUT_MS,
        )

    def bubble(self, role: str, message_id: str) -> Locator:
        return self.page.locator(f'[data-testid="message-{role}"][data-message-id="{message_id}"]')

    def texts(self, role: str) -> Locator:
        """The visible text of every bubble of one role, without the screen-reader prefix."""
        content = self.page.get_by_test_id(f"message-{role}").get_by_test_id("message-content")
        # An answer's text is its rendered Markdown, beside its sources, badge and usage.
        return content.locator(".answer-content") if role == "assistant" else content

    def answer_text(self, message_id: str) -> Locator:
        """The rendered text of one answer, without its sources, badge and usage."""
        return self.bubble("assistant", message_id).locator(".answer-content")


@pytest.fixture
def chat(browser: Browser, server: ServerProcess) -> Iterator[ChatPage]:
    # A fresh context per test: its own localStorage, hence its own session.
    context = browser.new_context()
    try:
        page = ChatPage(context.new_page(), server.url)
        yield page
        assert not page.page_errors, f"uncaught errors in the page: {page.page_errors}"
    finally:
        context.close()


def _streamed_text(frames: list[Frame], message_id: str) -> str:
    deltas = [f for f in frames if f.get("type") == "delta" and f.get("messageId") == message_id]
    indexes = sorted(delta["index"] for delta in deltas)
    assert indexes == list(range(len(deltas))), f"delta indexes have gaps: {indexes}"
    return "".join(delta["content"] for delta in sorted(deltas, key=lambda d: d["index"]))


# --- the behaviours ---------------------------------------------------------------------


def test_question_gets_streamed_answer_rendered_in_its_bubble(chat: ChatPage) -> None:
    question = "What can you tell me about this chatbot?"
    chat.open()

    message_id = chat.send(question)

    expect(chat.bubble("user", message_id).get_by_test_id("message-content")).to_have_text(question)
    final = chat.wait_for_outcome(message_id)
    assert final["type"] == "message", f"expected an answer, got {final}"
    assert final["content"].strip(), "the final message is empty"
    assert _streamed_text(chat.received, message_id) == final["content"]
    answer = chat.bubble("assistant", message_id)
    expect(answer).to_have_attribute("data-state", "complete")
    expect(chat.answer_text(message_id)).to_have_text(final["content"])
    expect(chat.page.get_by_test_id("message-input")).to_have_value("")


def test_reload_resumes_session_and_shows_question_and_answer_again(chat: ChatPage) -> None:
    question = "Please remember this question across a reload."
    chat.open()
    message_id = chat.send(question)
    final = chat.wait_for_outcome(message_id)
    assert final["type"] == "message", f"expected an answer, got {final}"

    chat.reload()

    session = chat.wait_for_frame(lambda frame: frame.get("type") == "session", UI_TIMEOUT_MS)
    assert session["resumed"] is True
    assert session["sessionId"] == final["sessionId"]
    # Exactly one of each: the history replaced the page's list rather than adding to it.
    expect(chat.texts("user")).to_have_text([question])
    expect(chat.texts("assistant")).to_have_text([final["content"]])


def test_over_long_message_is_kept_unsent_and_the_next_message_is_answered(
    chat: ChatPage,
) -> None:
    chat.open()
    box = chat.page.get_by_test_id("message-input")
    too_long = "x" * (MAX_CONTENT_CHARS + 1)

    box.fill(too_long)
    box.press("Enter")

    expect(chat.page.get_by_test_id("send-button")).to_be_disabled()
    expect(chat.page.get_by_test_id("char-count")).to_contain_text("too long")
    expect(box).to_have_value(too_long)
    expect(chat.page.get_by_test_id("message-user")).to_have_count(0)

    follow_up = "Short question after the error."
    follow_up_id = chat.send(follow_up)
    final = chat.wait_for_outcome(follow_up_id)
    assert final["type"] == "message", f"expected an answer, got {final}"
    expect(chat.answer_text(follow_up_id)).to_have_text(final["content"])


def _seed_turns(server: ServerProcess, session_id: str, questions: list[str]) -> None:
    """Turns written into the server's store, as a long conversation would have left them."""
    clock = SystemClock()
    store = SQLiteTables(Settings(CHATBOT_STATE_DIR=server.state_dir).sqlite_path, clock=clock)
    try:
        conversations = ConversationStore(
            store.tables().conversations, retention=timedelta(days=1), clock=clock
        )
        seed_turns(
            conversations,
            clock,
            session_id,
            questions,
            answer=lambda n, question: f"Answer {n:02d}. " + "y" * 5_000,
            prefix="old",
        )
    finally:
        store.close()


def test_scrolling_to_the_top_loads_older_messages_once_each_and_keeps_the_view(
    chat: ChatPage, server: ServerProcess
) -> None:
    chat.open()
    session = chat.wait_for_frame(lambda frame: frame.get("type") == "session", UI_TIMEOUT_MS)
    # 60 messages of 5,000 characters: several history frames of 128 KB.
    questions = [f"Question {n:02d}. " + "x" * 5_000 for n in range(30)]
    _seed_turns(server, session["sessionId"], questions)
    chat.reload()
    seen: list[Frame] = []

    def next_history() -> Frame:
        frame = chat.wait_for_frame(
            lambda f: f.get("type") == "history" and all(f is not s for s in seen), UI_TIMEOUT_MS
        )
        seen.append(frame)
        return frame

    page = next_history()
    assert page["hasMore"] is True and len(page["messages"]) < 60
    expect(chat.page.get_by_test_id("older-messages")).to_be_visible()
    message_list = chat.page.get_by_test_id("message-list")
    while page["hasMore"]:
        oldest = chat.page.locator("li.message[data-message-id]").first
        oldest_id = oldest.get_attribute("data-message-id")
        message_list.evaluate("list => { list.scrollTop = 0; }")
        page = next_history()
        assert page["messages"][-1]["messageId"] < str(oldest_id)
        # The view stays on what was read: the formerly oldest question is still in sight.
        expect(chat.bubble("user", str(oldest_id))).to_be_in_viewport()

    expect(chat.texts("user")).to_have_text(questions)
    expect(chat.texts("assistant")).to_have_count(30)
    ids = chat.page.locator("li.message[data-message-id]").evaluate_all(
        "items => items.map(item => item.dataset.messageId + item.className)"
    )
    assert len(ids) == len(set(ids)) == 60
    expect(chat.page.get_by_test_id("older-messages")).to_have_count(0)
    assert len(seen) >= 3
