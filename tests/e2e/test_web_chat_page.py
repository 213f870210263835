"""The chat page as a person uses it: conversations, message actions, a dropped connection,
the composer, the first open, a phone, and axe-core, in Chromium against `chatbot serve`."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.clock import SystemClock
from chatbot.config import Settings
from chatbot.conversations import ConversationStore
from chatbot.records import ConversationRecord
from tests.e2e.conftest import UI_TIMEOUT_MS
from tests.e2e.served import ServerProcess
from tests.e2e.test_crash_recovery import SlowServer
from tests.e2e.test_web_page import SERVER_START_TIMEOUT_S, ChatPage, chat, server

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture turns this into a failure that says what to run
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, WebSocketRoute

pytestmark = pytest.mark.e2e
__all__ = ["chat", "server"]  # fixtures shared with test_web_page

REPO_AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


# --- helpers ----------------------------------------------------------------------------


@contextmanager
def conversations(server: ServerProcess) -> Iterator[ConversationStore]:
    """The served gateway's own store (SQLite in its state folder)."""
    clock = SystemClock()
    store = SQLiteTables(Settings(CHATBOT_STATE_DIR=server.state_dir).sqlite_path, clock=clock)
    try:
        yield ConversationStore(
            store.tables().conversations, retention=timedelta(days=1), clock=clock
        )
    finally:
        store.close()


def stored(server: ServerProcess, session_id: str) -> list[ConversationRecord]:
    with conversations(server) as store:
        return store.history(session_id, limit=100)


def session_of(chat: ChatPage) -> str:
    frame = chat.wait_for_frame(lambda f: f.get("type") == "session", UI_TIMEOUT_MS)
    return str(frame["sessionId"])


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Saved under the test's tmp dir and copied to $CHATBOT_SCREENSHOTS when it is set."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("CHATBOT_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    # An init script: the page's Content-Security-Policy refuses inline <script> tags.
    script = REPO_AXE
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.context.add_init_script(path=str(script))
        page.reload()
        expect(page.get_by_test_id("connection-status")).to_have_attribute(
            "data-state", "connected"
        )
    result: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run()).violations.map(v => "
        "({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return result


def ask(chat: ChatPage, text: str) -> dict[str, Any]:
    message_id = chat.send(text)
    final = chat.wait_for_outcome(message_id)
    assert final["type"] == "message", f"expected an answer, got {final}"
    return final


# --- 3. conversations -------------------------------------------------------------------


def test_switching_conversations_keeps_both_histories_and_lists_both_after_reload(
    chat: ChatPage, server: ServerProcess
) -> None:
    chat.open()
    first = ask(chat, "First conversation: what is a WebSocket?")
    with chat.page.expect_websocket() as reopened:
        chat.page.get_by_test_id("new-chat-button").click()
    reopened.value.on("framereceived", chat._record)
    expect(chat.page.get_by_test_id("welcome")).to_be_visible()
    expect(chat.page.get_by_test_id("message-input")).to_be_focused()
    chat.received.clear()
    chat._socket = reopened.value
    chat.expect_connected()
    second = ask(chat, "Second conversation: explain retention")
    assert second["sessionId"] != first["sessionId"]

    listed = chat.page.get_by_test_id("conversation")
    expect(listed).to_have_text(
        ["Second conversation: explain retention", "First conversation: what is a WebSocket?"]
    )
    expect(listed.nth(0)).to_have_attribute("aria-current", "true")
    listed.nth(1).click()
    expect(chat.texts("user")).to_have_text(["First conversation: what is a WebSocket?"])
    expect(chat.page.get_by_test_id("message-input")).to_be_focused()
    expect(listed.nth(1)).to_have_attribute("aria-current", "true")

    chat.reload()
    expect(chat.page.get_by_test_id("conversation")).to_have_count(2)
    expect(chat.texts("user")).to_have_text(["First conversation: what is a WebSocket?"])
    for final, question in ((first, "First conversation"), (second, "Second conversation")):
        records = stored(server, final["sessionId"])
        assert [r.messageType for r in records] == ["user", "assistant"]
        assert records[0].content.startswith(question)


class LateSessionProxy:
    """Between page and server: the server's `session` frame reaches the page only after the
    page has sent its first question, as a slow connect handler would have it."""

    def __init__(self) -> None:
        self.held: list[str | bytes] = []
        self.asked = False

    def handle(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            server.send(message)
            if json.loads(message).get("action") == "sendMessage" and not self.asked:
                self.asked = True
                for held in self.held:
                    ws.send(held)
                self.held.clear()

        def from_server(message: str | bytes) -> None:
            if not self.asked and json.loads(message).get("type") == "session":
                self.held.append(message)
            else:
                ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)


def test_a_question_asked_before_the_session_frame_still_lists_its_conversation(
    browser: Browser, server: ServerProcess
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        proxy = LateSessionProxy()
        page.route_web_socket(f"ws://127.0.0.1:{server.port}/**", proxy.handle)
        page.goto(server.url)
        expect(page.get_by_test_id("connection-status")).to_have_attribute(
            "data-state", "connected"
        )
        box = page.get_by_test_id("message-input")
        box.fill("Asked before the session frame")
        box.press("Enter")
        expect(page.get_by_test_id("message-assistant")).to_have_attribute("data-state", "complete")
        assert proxy.asked
        listed = page.get_by_test_id("conversation")
        expect(listed).to_have_text(["Asked before the session frame"])
        expect(listed).to_have_attribute("aria-current", "true")
        page.reload()
        expect(page.get_by_test_id("conversation")).to_have_text(["Asked before the session frame"])
    finally:
        context.close()


# --- 4. message actions -----------------------------------------------------------------


def test_thumbs_down_comment_is_stored_and_the_rating_shows_again_after_reload(
    chat: ChatPage, server: ServerProcess
) -> None:
    chat.open()
    final = ask(chat, "Rate this answer, please.")
    answer = chat.bubble("assistant", final["messageId"])
    answer.get_by_test_id("feedback-down").click()
    answer.get_by_test_id("comment-input").fill("It missed the point.")
    answer.get_by_test_id("comment-send").click()
    expect(answer).to_contain_text("Thanks for the feedback.")
    expect(chat.page.get_by_test_id("message-input")).to_be_focused()
    assert answer.get_attribute("title"), "the answer's time shows on hover"

    chat.reload()
    again = chat.bubble("assistant", final["messageId"])
    expect(again.get_by_test_id("feedback-down")).to_have_attribute("aria-pressed", "true")
    expect(again.get_by_test_id("feedback-up")).to_have_attribute("aria-pressed", "false")
    [record] = [r for r in stored(server, final["sessionId"]) if r.messageType == "assistant"]
    assert record.feedback is not None
    assert record.feedback["rating"] == "down"
    assert record.feedback["comment"] == "It missed the point."


def test_regenerate_sends_the_last_question_again_as_a_new_message(chat: ChatPage) -> None:
    chat.open()
    final = ask(chat, "Explain WebSockets in two sentences")
    regenerate = chat.bubble("assistant", final["messageId"]).get_by_test_id("regenerate-button")
    regenerate.click()
    expect(chat.texts("user")).to_have_text(["Explain WebSockets in two sentences"] * 2)
    expect(chat.page.get_by_test_id("message-assistant").last).to_have_attribute(
        "data-state", "complete", timeout=60_000
    )
    expect(chat.page.get_by_test_id("regenerate-button").locator("visible=true")).to_have_count(1)


def test_a_failed_question_shows_after_reload_with_try_again(
    chat: ChatPage, server: ServerProcess
) -> None:
    chat.open()
    session_id = session_of(chat)
    with conversations(server) as store:
        store.add_user_message(session_id, "failed-01", "A question the model never answered")
        store.set_status(session_id, "failed-01", "failed")

    chat.reload()

    history = chat.wait_for_frame(lambda f: f.get("type") == "history", UI_TIMEOUT_MS)
    assert [m.get("status") for m in history["messages"]] == ["failed"]
    failed = chat.bubble("assistant", "failed-01")
    expect(failed).to_have_attribute("data-state", "error")
    expect(failed).to_contain_text("This message didn't get an answer")
    failed.get_by_test_id("retry-button").click()
    expect(chat.page.get_by_test_id("message-input")).to_be_focused()
    final = chat.wait_for_outcome("failed-01")
    assert final["type"] == "message", final
    expect(failed).to_have_attribute("data-state", "complete")
    assert [r.messageType for r in stored(server, session_id)] == ["user", "assistant"]


class HoldingProxy:
    """Between page and server: holds back each final `message` and answers `cancel` as a
    server without it does (UNKNOWN_ACTION), or releases the answer marked stopped."""

    def __init__(self, stop_works: bool) -> None:
        self.stop_works = stop_works
        self.cancels: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.page_side: WebSocketRoute | None = None

    def handle(self, ws: WebSocketRoute) -> None:
        self.page_side = ws
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("action") != "cancel":
                server.send(message)
                return
            self.cancels.append(frame)
            if not self.stop_works:
                error = {
                    "type": "error",
                    "code": "UNKNOWN_ACTION",
                    "message": "Unknown action.",
                    "retryable": False,
                    "messageId": frame["messageId"],
                }
                ws.send(json.dumps(error))
                return
            for held in self.held:
                ws.send(json.dumps({**held, "content": held["content"][:10], "stopped": True}))
            self.held.clear()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "message":
                self.held.append(frame)
            else:
                ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)


@pytest.mark.parametrize("stop_works", [False, True], ids=["unsupported", "stopped"])
def test_stop_sends_cancel_and_shows_the_outcome(
    browser: Browser, server: ServerProcess, stop_works: bool
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        proxy = HoldingProxy(stop_works)
        page.route_web_socket(f"ws://127.0.0.1:{server.port}/**", proxy.handle)
        page.goto(server.url)
        expect(page.get_by_test_id("connection-status")).to_have_attribute(
            "data-state", "connected"
        )
        box = page.get_by_test_id("message-input")
        box.fill("Stream a long answer")
        box.press("Enter")
        answer = page.get_by_test_id("message-assistant")
        expect(answer).to_have_attribute("data-state", "streaming", timeout=60_000)
        stop = page.get_by_test_id("stop-button")
        stop.click()
        expect(box).to_be_focused()
        message_id = answer.get_attribute("data-message-id")
        assert [c["messageId"] for c in proxy.cancels] == [message_id]
        if stop_works:
            expect(answer).to_have_attribute("data-stopped", "true")
            expect(answer.get_by_test_id("stopped-note")).to_be_visible()
            expect(stop).to_be_hidden()
        else:
            expect(page.get_by_test_id("composer-note")).to_have_text(
                "Stopping isn't available on this server."
            )
            expect(stop).to_be_hidden()
            expect(answer).to_have_attribute("data-state", "streaming")
    finally:
        context.close()


def test_stop_against_the_real_server_leaves_a_stopped_answer_in_history(
    browser: Browser, tmp_path: Path
) -> None:
    """No proxy: the page's Stop reaches `chatbot serve`, whose engine stops between deltas."""
    state_dir = tmp_path / "state"
    served = SlowServer(state_dir, delta_pause=0.3)
    context = browser.new_context()
    try:
        served.wait_until_ready(SERVER_START_TIMEOUT_S)
        chat = ChatPage(context.new_page(), served.url)
        chat.open()
        session_id = session_of(chat)
        message_id = chat.send("Hello, how are you doing today?")
        answer = chat.page.locator(
            f'[data-testid="message-assistant"][data-message-id="{message_id}"]'
        )
        expect(answer).to_have_attribute("data-state", "streaming", timeout=60_000)
        chat.page.get_by_test_id("stop-button").click()
        final = chat.wait_for_outcome(message_id)
        assert final["type"] == "message" and final.get("stopped") is True, final
        expect(answer).to_have_attribute("data-stopped", "true")
        expect(answer.get_by_test_id("stopped-note")).to_be_visible()
        expect(chat.page.get_by_test_id("message-input")).to_be_focused()

        chat.reload()
        shown = chat.page.locator(
            f'[data-testid="message-assistant"][data-message-id="{message_id}"]'
        )
        expect(shown).to_have_attribute("data-stopped", "true")
        expect(shown.get_by_test_id("stopped-note")).to_be_visible()
        records = stored(served, session_id)
        assert [(r.messageType, bool(r.stopped)) for r in records] == [
            ("user", False),
            ("assistant", True),
        ]
        assert records[1].content == final["content"]
    finally:
        context.close()
        if served.process.poll() is None:
            served.stop()


# --- 5. connection ----------------------------------------------------------------------


def test_a_message_typed_offline_waits_visibly_and_is_sent_once_after_a_restart(
    browser: Browser, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    served = ServerProcess(state_dir)
    context = browser.new_context()
    try:
        served.wait_until_ready(SERVER_START_TIMEOUT_S)
        chat = ChatPage(context.new_page(), served.url)
        chat.open()
        session_id = session_of(chat)
        served.stop()
        status = chat.page.get_by_test_id("connection-status")
        expect(status).to_have_attribute("data-state", "disconnected")
        countdown = chat.page.get_by_test_id("reconnect-countdown")
        expect(countdown).to_have_text(re.compile(r"Reconnecting in [1-9]\d? s…"), timeout=5_000)
        box = chat.page.get_by_test_id("message-input")
        box.fill("Sent while offline")
        box.press("Enter")
        expect(box).to_have_value("")
        waiting = chat.page.get_by_test_id("message-assistant")
        expect(waiting).to_have_attribute("data-state", "queued")
        expect(waiting).to_contain_text("Waiting for the connection…")
        expect(waiting).not_to_contain_text("Sending")

        with mock.patch("tests.e2e.served._free_port", return_value=served.port):
            served = ServerProcess(state_dir)
        served.wait_until_ready(SERVER_START_TIMEOUT_S)
        reconnect = chat.page.get_by_test_id("reconnect-now")
        if reconnect.is_visible():
            reconnect.click()
        expect(waiting).to_have_attribute("data-state", "complete", timeout=60_000)
        records = stored(served, session_id)
        questions = [r for r in records if r.messageType == "user"]
        answers = [r for r in records if r.messageType == "assistant"]
        assert [q.content for q in questions] == ["Sent while offline"]
        assert len(answers) == 1
        assert not chat.page_errors
    finally:
        context.close()
        served.stop()


# --- 6. composer, first open and a phone ------------------------------------------------


def test_an_example_prompt_sends_and_the_composer_grows_and_refuses_empty_input(
    chat: ChatPage,
) -> None:
    chat.open()
    box = chat.page.get_by_test_id("message-input")
    send = chat.page.get_by_test_id("send-button")
    expect(chat.page.get_by_test_id("example-prompt")).to_have_count(3)
    expect(send).to_be_disabled()
    box.fill("   ")
    expect(send).to_be_disabled()
    low = box.bounding_box()
    box.fill("line\n" * 6)
    high = box.bounding_box()
    assert low and high and high["height"] > low["height"] * 1.5
    box.fill("")

    chat.page.get_by_test_id("example-prompt").nth(1).click()

    expect(chat.texts("user")).to_have_text(["Explain WebSockets in two sentences"])
    expect(chat.page.get_by_test_id("welcome")).to_be_hidden()
    expect(box).to_be_focused()
    expect(chat.page.get_by_test_id("message-assistant")).to_have_attribute(
        "data-state", "complete", timeout=60_000
    )


def test_on_a_phone_one_header_row_full_width_bubbles_and_44px_targets(
    browser: Browser, server: ServerProcess, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    try:
        chat = ChatPage(context.new_page(), server.url)
        chat.open()
        page = chat.page
        header = page.locator(".app-header").bounding_box()
        assert header and header["height"] < 60, header
        expect(page.locator(".keyboard-hint")).to_be_hidden()
        for testid in ("send-button", "new-chat-button", "conversations-toggle"):
            box = page.get_by_test_id(testid).bounding_box()
            assert box and box["height"] >= 44 and box["width"] >= 44, (testid, box)
        screenshot(page, tmp_path, "chat-mobile-empty.png")
        ask(chat, "Explain WebSockets in two sentences")
        bubble = page.get_by_test_id("message-assistant").bounding_box()
        listing = page.get_by_test_id("message-list").bounding_box()
        assert bubble and listing and bubble["width"] > listing["width"] * 0.9
        screenshot(page, tmp_path, "chat-mobile.png")
        page.get_by_test_id("conversations-toggle").click()
        expect(page.get_by_test_id("conversation")).to_have_count(1)
    finally:
        context.close()


# --- 7. accessible ----------------------------------------------------------------------


def test_axe_finds_no_violations_empty_and_after_a_conversation_in_light_and_dark(
    chat: ChatPage, tmp_path: Path
) -> None:
    chat.page.set_viewport_size({"width": 1280, "height": 800})
    chat.page.context.add_init_script(path=str(REPO_AXE))
    chat.open()
    found: dict[str, list[dict[str, Any]]] = {}
    for scheme in ("light", "dark"):
        chat.page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        found[f"empty-{scheme}"] = axe_violations(chat.page)
        screenshot(chat.page, tmp_path, f"chat-desktop-empty-{scheme}.png")
    final = ask(chat, "What can you tell me about this chatbot?")
    chat.bubble("assistant", final["messageId"]).get_by_test_id("feedback-down").click()
    for scheme in ("light", "dark"):
        chat.page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        found[f"conversation-{scheme}"] = axe_violations(chat.page)
        screenshot(chat.page, tmp_path, f"chat-desktop-{scheme}.png")
    assert found == {name: [] for name in found}
