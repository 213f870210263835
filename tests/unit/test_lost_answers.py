"""A question whose engine worker died ends failed and retryable, unless it was not its to end."""

from __future__ import annotations

import json

import pytest

from chatbot.adapters.local.lost_answers import fail_lost_answer
from chatbot.config import Settings
from chatbot.ports import EngineRequest
from chatbot.records import ConversationRecord, QueryType, iso
from chatbot.runtime import Runtime, runtime_from_settings
from tests.conftest import FakeClock
from tests.unit.conftest import RecordingSender

CONNECTION = "conn-1"


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Runtime:
    return runtime_from_settings(settings, clock)


def _asked(runtime: Runtime, message_id: str = "m1") -> EngineRequest:
    session = runtime.sessions.create_session()
    runtime.sessions.bind_connection(CONNECTION, session.sessionId, resumed=False)
    runtime.conversations.add_user_message(session.sessionId, message_id, "a question")
    return EngineRequest(sessionId=session.sessionId, messageId=message_id, connectionId=CONNECTION)


def test_a_pending_question_is_marked_failed_and_its_client_told_to_retry(
    runtime: Runtime,
) -> None:
    request = _asked(runtime)
    assert runtime.conversations.take_lease(request.sessionId, "m1", "dead-worker")
    sender = RecordingSender()

    assert fail_lost_answer(runtime, sender, request) is True

    question = runtime.conversations.get(request.sessionId, "m1", "user")
    assert question is not None and question.status == "failed"
    [(connection, data)] = sender.posted
    frame = json.loads(data)
    assert connection == CONNECTION
    assert (frame["type"], frame["code"], frame["retryable"], frame["messageId"]) == (
        "error",
        "INTERNAL_ERROR",
        True,
        "m1",
    )


def test_an_answered_question_is_left_alone_and_nothing_is_sent(
    runtime: Runtime, clock: FakeClock
) -> None:
    request = _asked(runtime)
    runtime.conversations.save_answer(
        ConversationRecord(
            sessionId=request.sessionId,
            recordId=ConversationRecord.record_id("m1", "assistant"),
            messageId="m1",
            timestamp=iso(clock.now()),
            messageType="assistant",
            content="the answer",
            queryType=QueryType.GENERAL,
        )
    )
    sender = RecordingSender()

    assert fail_lost_answer(runtime, sender, request) is False
    assert sender.posted == []


def test_a_question_another_attempt_has_claimed_since_is_left_to_it(runtime: Runtime) -> None:
    request = _asked(runtime)
    assert runtime.conversations.take_lease(request.sessionId, "m1", "dead-worker")
    sender = RecordingSender()
    # The dead worker's claim was read; then a newer attempt takes the question over.
    real_get = runtime.conversations.get

    def get_then_lose_the_claim(session_id: str, message_id: str, kind: str) -> object:
        record = real_get(session_id, message_id, kind)
        if kind == "user":
            runtime.tables.conversations.update(
                {
                    "sessionId": session_id,
                    "recordId": ConversationRecord.record_id(message_id, "user"),
                },
                set_values={"leaseHolder": "newer-attempt"},
            )
        return record

    runtime.conversations.get = get_then_lose_the_claim  # type: ignore[method-assign]
    assert fail_lost_answer(runtime, sender, request) is False
    assert sender.posted == []
    runtime.conversations.get = real_get  # type: ignore[method-assign]
    question = runtime.conversations.get(request.sessionId, "m1", "user")
    assert question is not None and question.status == "pending"
