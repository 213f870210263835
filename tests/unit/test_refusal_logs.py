"""A refused frame is logged by its code and the fields at fault, never by what it held."""

from __future__ import annotations

import json

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.chat_service import ChatService
from chatbot.conversations import ConversationStore
from chatbot.sessions import SessionManager
from tests.conftest import FakeClock
from tests.unit.chat_harness import CONNECTION, LimitedSender, chat_service, connected

MARKER = "Zq7-HOSTILE-MARKER"

HOSTILE_FRAMES = [
    f'{{"action": "sendMessage", "messageId": "m1", "content": "x", "timestamp": "{MARKER}"}}',
    f'{{"action": "{MARKER}"}}',
    f'{{"action": "getHistory", "limit": "{MARKER}"}}',
    f'{{"action": "getHistory", "before": "{MARKER}"}}',
    f'{{"action": "getHistory", "before": "{MARKER}", "limit": [1]}}',
    f'{{"action": "sendMessage", "messageId": "{MARKER}!", "content": "x"}}',
    json.dumps({"action": "sendMessage", "messageId": "m2", "content": MARKER * 600}),
    f'{{"action": "feedback", "messageId": "m1", "rating": "{MARKER}"}}',
    f'{{"action": "sendMessage", "messageId": "m3", "content": 5, "x": "{MARKER}"',
    f"not json {MARKER}",
    f'["{MARKER}"]',
]


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the log records carry: message, arguments and every extra field."""
    return repr([vars(record) for record in caplog.records])


def refuse_all(service: ChatService) -> None:
    for frame in HOSTILE_FRAMES:
        service.handle_frame(CONNECTION, frame)


@pytest.fixture
def sender() -> LimitedSender:
    return LimitedSender()


def test_refused_frames_never_put_their_values_in_logs_or_error_frames(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: LimitedSender,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = chat_service(sessions, conversations, analytics, sender, clock)
    connected(service)
    caplog.set_level("DEBUG")

    refuse_all(service)

    frames = sender.frames()
    assert [f["type"] for f in frames] == ["error"] * len(HOSTILE_FRAMES)
    assert MARKER not in json.dumps(frames)
    refusals = [r for r in caplog.records if r.getMessage() == "frame refused"]
    assert len(refusals) == len(HOSTILE_FRAMES)
    assert MARKER not in log_text(caplog)
    # What a log may say: the code, and where the frame was wrong.
    first = vars(refusals[0])
    assert (first["code"], first["fields"]) == ("INVALID_MESSAGE", ["timestamp"])
    assert "detail" not in first


def test_with_user_content_logging_on_the_refusal_detail_is_logged_and_still_quotes_nothing(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: LimitedSender,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = chat_service(sessions, conversations, analytics, sender, clock, log_user_content=True)
    connected(service)
    caplog.set_level("DEBUG")

    service.handle_frame(CONNECTION, f'{{"action": "{MARKER}"}}')

    # The detail says what was wrong; an error's text never repeats the client's values.
    (refusal,) = [r for r in caplog.records if r.getMessage() == "frame refused"]
    assert vars(refusal)["detail"] == f"unknown action of {len(MARKER)} characters"
    assert MARKER not in log_text(caplog)
    assert MARKER not in sender.last()["message"]
