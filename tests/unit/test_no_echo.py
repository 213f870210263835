"""Nothing a client sent comes back in an error frame or goes into a log (issue 13, found 8)."""

from __future__ import annotations

import json

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.sessions import SessionManager
from tests.conftest import FakeClock
from tests.unit.chat_harness import CONNECTION, LimitedSender, chat_service, connected

MARKER = "Qx9-ECHO-MARKER"


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    return repr([vars(record) for record in caplog.records])


def test_twenty_huge_invalid_timestamps_draw_small_errors_and_small_logs(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    connected(service)
    caplog.set_level("DEBUG")
    stamp = (MARKER * 9000)[:129_000]
    frame = json.dumps(
        {"action": "sendMessage", "messageId": "m1", "content": "hi", "timestamp": stamp}
    )
    assert 129_000 < len(frame) < 131_072

    for _ in range(20):
        service.handle_frame(CONNECTION, frame)

    replies = [data for _, data in sender.posted]
    assert len(replies) == 20
    assert all(len(reply.encode()) < 1024 for reply in replies)
    assert sum(len(reply.encode()) for reply in replies) < 20 * 1024
    assert all(json.loads(reply)["code"] == "INVALID_MESSAGE" for reply in replies)
    assert MARKER not in "".join(replies)
    assert MARKER not in log_text(caplog)
    assert len(log_text(caplog)) < 20 * 4096


HOSTILE = [
    {"action": "sendMessage", "messageId": "m1", "content": "x", "timestamp": MARKER},
    {"action": MARKER},
    {"action": "getHistory", "limit": MARKER, "before": MARKER + "!"},
    {"action": "feedback", "messageId": "m1", "rating": MARKER},
    {"action": "sendMessage", "messageId": MARKER + "!", "content": [MARKER]},
    {"action": "sendMessage", "messageId": "m2", "content": MARKER * 700},
    {"action": "getSession", MARKER: MARKER, "messageId": {"a": MARKER}},
]


@pytest.mark.parametrize("log_user_content", [False, True])
def test_no_error_text_repeats_a_value_even_where_user_content_may_be_logged(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    log_user_content: bool,
) -> None:
    sender = LimitedSender()
    service = chat_service(
        sessions, conversations, analytics, sender, clock, log_user_content=log_user_content
    )
    connected(service)
    caplog.set_level("DEBUG")

    for frame in HOSTILE:
        service.handle_frame(CONNECTION, json.dumps(frame))

    replies = sender.frames()
    assert len(replies) == len(HOSTILE)
    assert MARKER not in json.dumps(replies)
    assert MARKER not in log_text(caplog)
    invalid = [r["message"] for r in replies if r.get("code") == "INVALID_MESSAGE"]
    assert invalid[0] == "Invalid frame: timestamp: must be an ISO 8601 date-time."
    assert "limit: must be an integer" in invalid[1]
    assert "rating: must be 'up' or 'down'" in invalid[2]
