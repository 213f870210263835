"""Answered turns written straight into a conversations store, as a long chat leaves them."""

from __future__ import annotations

from collections.abc import Callable

from chatbot.clock import Clock
from chatbot.conversations import ConversationStore
from chatbot.records import ConversationRecord, QueryType, iso


def seed_turns(
    conversations: ConversationStore,
    clock: Clock,
    session_id: str,
    questions: list[str],
    *,
    answer: Callable[[int, str], str],
    prefix: str = "seed",
) -> None:
    """One answered question per item of ``questions``, ids ``<prefix>-00`` on; the answer to
    question ``n`` is ``answer(n, question)``."""
    for n, question in enumerate(questions):
        message_id = f"{prefix}-{n:02d}"
        conversations.add_user_message(session_id, message_id, question)
        conversations.set_status(session_id, message_id, "answered")
        conversations.save_answer(
            ConversationRecord(
                sessionId=session_id,
                recordId=ConversationRecord.record_id(message_id, "assistant"),
                messageId=message_id,
                timestamp=iso(clock.now()),
                messageType="assistant",
                content=answer(n, question),
                queryType=QueryType.GENERAL,
                sources=[],
                toolsUsed=[],
            )
        )
