"""``cancel``: the engine stops between deltas and stores what was written, marked stopped."""

from __future__ import annotations

import json
from typing import Any

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.engine.streaming import StreamingPolicy
from chatbot.ports import EngineRequest
from chatbot.records import ConversationRecord, iso
from chatbot.sessions import SessionManager
from chatbot.tables import Tables
from tests.conftest import FakeClock, ScriptedModel
from tests.unit.chat_harness import CONNECTION, LimitedSender, chat_service, connected
from tests.unit.conftest import RecordingSender, events_of
from tests.unit.test_engine import engine_with

SESSION = "s-1"
LONG_ANSWER = " ".join(f"word{n}" for n in range(40))


class CancellingSender(RecordingSender):
    """Asks to cancel once ``after`` deltas have been posted, as a user pressing Stop, and
    moves the clock on so that the engine's next look at the store is due."""

    def __init__(self, conversations: ConversationStore, clock: FakeClock, after: int) -> None:
        super().__init__()
        self._conversations = conversations
        self._clock = clock
        self._after = after

    def post(self, connection_id: str, data: str) -> None:
        super().post(connection_id, data)
        frame = json.loads(data)
        if frame["type"] == "delta" and frame["index"] == self._after - 1:
            assert self._conversations.request_cancel(SESSION, frame["messageId"])
            self._clock.advance(seconds=1)


def engine(
    model: ScriptedModel,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> ChatbotEngine:
    # Every fragment its own delta, so the test knows where the cancel lands.
    policy = AnswerPolicy(history_turns=0, streaming=StreamingPolicy(max_wait=0))
    return engine_with(model, conversations, analytics, sender, policy=policy, clock=clock)


def frames(sender: RecordingSender) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in sender.posted]


async def test_a_cancel_mid_stream_stores_and_sends_the_text_so_far_marked_stopped(
    conversations: ConversationStore, analytics: AnalyticsRecorder, tables: Tables, clock: FakeClock
) -> None:
    sender = CancellingSender(conversations, clock, after=3)
    model = ScriptedModel([LONG_ANSWER], words_per_fragment=1)
    conversations.add_user_message(SESSION, "m1", "tell me a long story")
    request = EngineRequest(sessionId=SESSION, messageId="m1", connectionId="c-1")

    answer = await engine(model, conversations, analytics, sender, clock).process_message(request)

    sent = frames(sender)
    deltas, final = sent[:-1], sent[-1]
    assert [d["type"] for d in deltas] == ["delta"] * 3
    text = "".join(d["content"] for d in deltas)
    assert text == "word0 word1 word2 "
    assert final["type"] == "message" and final["stopped"] is True
    assert final["content"] == text
    stored = conversations.get(SESSION, "m1", "assistant")
    assert stored is not None and stored.stopped is True and stored.content == text
    assert answer is not None and answer.stopped is True
    question = conversations.get(SESSION, "m1", "user")
    assert question is not None and question.status == "answered"
    [query] = events_of(tables, stored.timestamp[:10], "query")
    assert query["details"]["stopped"] is True


async def test_an_answer_nobody_cancelled_is_not_marked_stopped(
    conversations: ConversationStore, analytics: AnalyticsRecorder, tables: Tables, clock: FakeClock
) -> None:
    sender = RecordingSender()
    conversations.add_user_message(SESSION, "m1", "hello")
    request = EngineRequest(sessionId=SESSION, messageId="m1", connectionId="c-1")
    model = ScriptedModel([LONG_ANSWER], words_per_fragment=1)
    await engine(model, conversations, analytics, sender, clock).process_message(request)
    final = frames(sender)[-1]
    assert final["content"] == LONG_ANSWER and "stopped" not in final
    [query] = events_of(tables, final["timestamp"][:10], "query")
    assert "stopped" not in query["details"]


def test_cancel_of_a_pending_message_marks_it_and_sends_nothing(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    session_id = connected(service)
    service.handle_frame(
        CONNECTION, json.dumps({"action": "sendMessage", "messageId": "m1", "content": "hi"})
    )
    before = len(sender.posted)
    service.handle_frame(CONNECTION, json.dumps({"action": "cancel", "messageId": "m1"}))
    assert len(sender.posted) == before
    question = conversations.get(session_id, "m1", "user")
    assert question is not None and question.cancelRequested is True
    assert conversations.cancel_requested(session_id, "m1")


def test_cancel_of_an_answered_message_changes_nothing(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    session_id = connected(service)
    conversations.add_user_message(session_id, "m1", "hi")
    conversations.set_status(session_id, "m1", "answered")
    service.handle_frame(CONNECTION, json.dumps({"action": "cancel", "messageId": "m1"}))
    assert sender.posted == []
    question = conversations.get(session_id, "m1", "user")
    assert question is not None and question.cancelRequested is None
    assert question.status == "answered"


def test_cancel_of_an_unknown_message_is_a_clear_error(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    session_id = connected(service)
    service.handle_frame(CONNECTION, json.dumps({"action": "cancel", "messageId": "nope"}))
    error = sender.last()
    assert error["type"] == "error" and error["code"] == "INVALID_MESSAGE"
    assert error["messageId"] == "nope"
    assert error["message"] == "Cancel must name a message of this session."
    assert conversations.get(session_id, "nope", "user") is None


def test_a_retry_after_a_cancelled_attempt_is_not_cancelled(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    conversations.add_user_message(SESSION, "m1", "hi")
    assert conversations.request_cancel(SESSION, "m1")
    conversations.set_status(SESSION, "m1", "failed")
    failed = conversations.get(SESSION, "m1", "user")
    assert failed is not None and conversations.claim_retry(failed)
    assert not conversations.cancel_requested(SESSION, "m1")


def test_history_shows_a_stopped_answer_as_stopped(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    session_id = connected(service)
    conversations.add_user_message(session_id, "m1", "hi")
    conversations.save_answer(
        ConversationRecord(
            sessionId=session_id,
            recordId=ConversationRecord.record_id("m1", "assistant"),
            messageId="m1",
            timestamp=iso(clock.now()),
            messageType="assistant",
            content="Half an ans",
            stopped=True,
        )
    )
    service.handle_frame(CONNECTION, json.dumps({"action": "getHistory"}))
    history = sender.last()
    [question, answer] = history["messages"]
    assert "stopped" not in question
    assert answer["stopped"] is True and answer["content"] == "Half an ans"
