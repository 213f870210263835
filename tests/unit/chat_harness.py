"""A ChatService on the unit fixtures' store, with a sender that refuses what API Gateway would."""

from __future__ import annotations

import json
from typing import Any

from chatbot.analytics import AnalyticsRecorder
from chatbot.chat_service import ChatService
from chatbot.conversations import ConversationStore
from chatbot.ports import MAX_OUTGOING_FRAME_BYTES, FrameTooLargeError
from chatbot.sessions import SessionManager
from chatbot.tokens import SessionTokens
from tests.conftest import FakeClock
from tests.unit.conftest import RecordingInvoker, RecordingSender

CONNECTION = "conn-1"


class LimitedSender(RecordingSender):
    """Records every frame posted, and refuses (FrameTooLargeError) one over ``limit`` bytes."""

    def __init__(self, limit: int = MAX_OUTGOING_FRAME_BYTES) -> None:
        super().__init__()
        self.limit = limit
        self.refused: list[int] = []

    def post(self, connection_id: str, data: str) -> None:
        size = len(data.encode())
        if size > self.limit:
            self.refused.append(size)
            raise FrameTooLargeError(size, self.limit)
        super().post(connection_id, data)

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(data) for _, data in self.posted]

    def last(self) -> dict[str, Any]:
        return dict(json.loads(self.posted[-1][1]))


def chat_service(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
    *,
    log_user_content: bool = False,
) -> ChatService:
    return ChatService(
        sessions=sessions,
        conversations=conversations,
        analytics=analytics,
        tokens=SessionTokens(b"0123456789abcdef0123456789abcdef"),
        sender=sender,
        invoker=RecordingInvoker(),
        max_frame_bytes=MAX_OUTGOING_FRAME_BYTES,
        clock=clock,
        log_user_content=log_user_content,
    )


def connected(service: ChatService) -> str:
    """Connect CONNECTION as a new session; its id."""
    result = service.connect(CONNECTION, {})
    assert result.session_id is not None
    return result.session_id
