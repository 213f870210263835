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
