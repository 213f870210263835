"""No server frame exceeds API Gateway's 128 KB: answers are bounded, refusals become errors."""

from __future__ import annotations

import json

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.streaming import DeltaStream, StreamingPolicy
from chatbot.protocol import MAX_CONTENT_CHARS
from chatbot.records import Citation, ConversationRecord, QueryType
from chatbot.server_frames import (
    ANSWER_CUT_NOTE,
    MAX_ANSWER_CONTENT_BYTES,
    MAX_ANSWER_FRAME_BYTES,
    MAX_SERVER_FRAME_BYTES,
    MessageFrame,
    json_bytes,
)
from chatbot.sessions import SessionManager
from tests.conftest import FakeClock
from tests.unit.chat_harness import CONNECTION, LimitedSender, chat_service, connected
from tests.unit.conftest import RecordingSender


def answer(content: str, citations: list[Citation] | None = None) -> ConversationRecord:
    return ConversationRecord(
        sessionId="s",
        recordId="m#assistant",
        messageId="m",
        timestamp="2026-11-24T12:00:00.000000Z",
        messageType="assistant",
        content=content,
        queryType=QueryType.RAG,
        sources=["a.md"],
        citations=citations,
    )


def citation(n: int, excerpt: str) -> Citation:
    return Citation(id=str(n), source=f"doc-{n}.md", score=0.9, excerpt=excerpt)


def test_an_answer_that_fits_is_sent_as_stored() -> None:
    record = answer("Hello [1]", [citation(1, "an excerpt")])
    frame = MessageFrame.from_record(record)
    assert (frame.content, frame.citations) == (record.content, record.citations)


def test_long_citation_excerpts_are_cut_before_the_answer_text() -> None:
    text = "語" * MAX_CONTENT_CHARS
    record = answer(text, [citation(n, "\x02" * 30_000) for n in range(1, 6)])

    frame = MessageFrame.from_record(record)

    assert frame.byte_size() <= MAX_ANSWER_FRAME_BYTES
    assert frame.content == text
    assert frame.citations is not None and [c.id for c in frame.citations] == list("12345")
    assert all(c.excerpt.endswith("…") and len(c.excerpt) > 100 for c in frame.citations)


def test_answer_text_over_the_bound_is_cut_with_a_note() -> None:
    frame = MessageFrame.from_record(answer('"' * 60_000))
    assert frame.byte_size() <= MAX_ANSWER_FRAME_BYTES
    assert frame.content.endswith(ANSWER_CUT_NOTE)
    assert len(frame.content) > 20_000


def test_a_stored_answer_is_bounded_so_its_message_frame_fits(
    conversations: ConversationStore,
) -> None:
    conversations.add_user_message("s", "m", "question")
    stored = conversations.save_answer(answer("x", [citation(1, "😀" * 40_000)]))
    assert MessageFrame._of(stored).byte_size() <= MAX_ANSWER_FRAME_BYTES
    again = conversations.get("s", "m", "assistant")
    assert again is not None and again.citations == stored.citations


def test_the_largest_question_frame_and_answer_bound_fit_one_frame_together() -> None:
    worst_question = json_bytes("\x01" * MAX_CONTENT_CHARS)
    assert worst_question == 48_000
    assert worst_question + MAX_ANSWER_FRAME_BYTES + 1_000 < MAX_SERVER_FRAME_BYTES


def test_a_streamed_answer_past_the_bound_is_cut_with_a_note_in_deltas_and_text() -> None:
    sender = RecordingSender()
    stream = DeltaStream(sender, "c", "m", StreamingPolicy(max_wait=0, max_chars=1000))
    for _ in range(100):
        stream.push("😀" * 500)  # 2,000 bytes a fragment, 200,000 in all
    stream.close()

    deltas = [json.loads(data) for _, data in sender.posted]
    assert "".join(d["content"] for d in deltas) == stream.text
    assert stream.cut and stream.text.endswith(ANSWER_CUT_NOTE)
    assert MAX_ANSWER_CONTENT_BYTES - 4 <= json_bytes(stream.text) <= MAX_ANSWER_CONTENT_BYTES
    assert [d["index"] for d in deltas] == list(range(len(deltas)))


def test_a_streamed_answer_within_the_bound_is_untouched() -> None:
    stream = DeltaStream(RecordingSender(), "c", "m", StreamingPolicy(max_wait=0))
    stream.push("short answer")
    stream.close()
    assert (stream.text, stream.cut) == ("short answer", False)


def test_a_reply_the_connection_refuses_as_too_large_becomes_an_internal_error(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A connection with a smaller limit than ours: the history page cannot fit it.
    sender = LimitedSender(limit=2_000)
    service = chat_service(sessions, conversations, analytics, sender, clock)
    session_id = connected(service)
    conversations.add_user_message(session_id, "m1", "SECRET-CONTENT " * 200)

    service.handle_frame(CONNECTION, '{"action": "getHistory"}')

    assert len(sender.refused) == 1 and sender.refused[0] > 2_000
    error = sender.last()
    assert (error["type"], error["code"], error["retryable"]) == ("error", "INTERNAL_ERROR", True)
    assert "SECRET-CONTENT" not in error["message"]
    logged = [r for r in caplog.records if r.getMessage() == "reply too large for the connection"]
    assert logged and getattr(logged[0], "frameType", None) == "history"
    assert "SECRET-CONTENT" not in repr([vars(r) for r in caplog.records])
