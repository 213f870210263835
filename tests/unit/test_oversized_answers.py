"""An answer too large for one frame never loses the acknowledged question: the engine cuts it
to fit (deltas, final frame and stored answer alike), and a connection that refuses the final
frame anyway gets an ``error`` for the messageId, with the answer kept in the store."""

from __future__ import annotations

import json

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.engine.streaming import DeltaStream, StreamingPolicy
from chatbot.ports import MAX_OUTGOING_FRAME_BYTES, EngineRequest
from chatbot.server_frames import ANSWER_CUT_NOTE, MAX_ANSWER_FRAME_BYTES
from tests.conftest import FakeClock, ScriptedModel, scripted
from tests.unit.chat_harness import LimitedSender

SESSION = "s-1"
# One fragment of 200 KB in UTF-8 (no spaces: the scripted model streams it as one piece).
HUGE = "😀" * 40_000 + "x" * 40_000


def engine_on(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: LimitedSender
) -> ChatbotEngine:
    return ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(ScriptedModel([HUGE])),
        policy=AnswerPolicy(history_turns=10),
    )


def ask(conversations: ConversationStore) -> EngineRequest:
    conversations.add_user_message(SESSION, "m1", "Write me something very long")
    return EngineRequest(sessionId=SESSION, messageId="m1", connectionId="c-1")


async def test_a_200_kb_model_fragment_reaches_the_client_cut_to_fit_and_stored_as_sent(
    conversations: ConversationStore, analytics: AnalyticsRecorder
) -> None:
    assert len(HUGE.encode()) == 200_000
    sender = LimitedSender(limit=MAX_OUTGOING_FRAME_BYTES)

    await engine_on(conversations, analytics, sender).process_message(ask(conversations))

    sent = sender.frames()
    assert sender.refused == []
    assert all(len(data.encode()) <= MAX_OUTGOING_FRAME_BYTES for _, data in sender.posted)
    deltas, final = sent[:-1], sent[-1]
    assert {d["type"] for d in deltas} == {"delta"} and final["type"] == "message"
    assert [d["index"] for d in deltas] == list(range(len(deltas)))
    assert "".join(d["content"] for d in deltas) == final["content"]
    assert final["content"].endswith(ANSWER_CUT_NOTE)
    assert len(json.dumps(final, ensure_ascii=False).encode()) <= MAX_ANSWER_FRAME_BYTES
    stored = conversations.get(SESSION, "m1", "assistant")
    assert stored is not None and stored.content == final["content"]
    question = conversations.get(SESSION, "m1", "user")
    assert question is not None and question.status == "answered"


async def test_a_final_frame_the_connection_refuses_becomes_an_error_for_the_message(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A connection with a smaller limit than API Gateway's: deltas fit, the final frame not.
    sender = LimitedSender(limit=16 * 1024)

    await engine_on(conversations, analytics, sender).process_message(ask(conversations))

    assert len(sender.refused) == 1 and sender.refused[0] > 16 * 1024
    error = sender.last()
    assert (error["type"], error["code"], error["messageId"]) == ("error", "INTERNAL_ERROR", "m1")
    assert error["retryable"] is False
    assert "history" in error["message"]
    assert "😀" not in error["message"]
    stored = conversations.get(SESSION, "m1", "assistant")
    question = conversations.get(SESSION, "m1", "user")
    assert stored is not None and stored.content.endswith(ANSWER_CUT_NOTE)
    assert question is not None and question.status == "answered"
    assert "😀" not in repr([vars(record) for record in caplog.records])


async def test_a_connection_that_refuses_even_the_error_frame_is_given_up_not_looped(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = LimitedSender(limit=40)  # smaller than any frame, a one-character delta's too

    await engine_on(conversations, analytics, sender).process_message(ask(conversations))

    assert sender.posted == []
    given_up = [r.getMessage() for r in caplog.records if "too large" in r.getMessage()]
    assert given_up == [
        "delta too large for the connection",
        "final frame too large for the connection",
        "error frame too large for the connection",
    ]
    question = conversations.get(SESSION, "m1", "user")
    assert question is not None and question.status == "answered"


def test_a_delta_the_connection_refuses_is_split_and_the_index_keeps_no_gaps() -> None:
    sender = LimitedSender(limit=3_000)
    stream = DeltaStream(sender, "c", "m", StreamingPolicy(max_wait=0, max_chars=1000))
    for _ in range(3):
        stream.push("😀" * 1000)  # 4,000 bytes a frame at max_chars: over the limit
    stream.close()

    deltas = sender.frames()
    assert sender.refused and all(size > 3_000 for size in sender.refused)
    assert all(len(data.encode()) <= 3_000 for _, data in sender.posted)
    assert [d["index"] for d in deltas] == list(range(len(deltas)))
    assert "".join(d["content"] for d in deltas) == stream.text == "😀" * 3000
    assert not stream.client_gone
