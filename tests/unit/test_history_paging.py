"""getHistory pages: newest first within API Gateway's 128 KB, every message reachable once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.chat_service import ChatService
from chatbot.conversations import ConversationStore
from chatbot.ports import MAX_OUTGOING_FRAME_BYTES
from chatbot.protocol import MAX_CONTENT_CHARS
from chatbot.records import Citation, ConversationRecord, QueryType, Usage, iso
from chatbot.sessions import SessionManager
from tests.conftest import FakeClock
from tests.unit.chat_harness import CONNECTION, LimitedSender, chat_service, connected

Turn = tuple[str, str]


@pytest.fixture
def sender() -> LimitedSender:
    return LimitedSender()


@pytest.fixture
def service(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: LimitedSender,
    clock: FakeClock,
) -> ChatService:
    return chat_service(sessions, conversations, analytics, sender, clock)


def answer(
    session_id: str, message_id: str, content: str, clock: FakeClock, **fields: Any
) -> ConversationRecord:
    return ConversationRecord(
        sessionId=session_id,
        recordId=ConversationRecord.record_id(message_id, "assistant"),
        messageId=message_id,
        timestamp=iso(clock.now()),
        messageType="assistant",
        content=content,
        queryType=QueryType.GENERAL,
        **{"sources": [], "toolsUsed": [], **fields},
    )


def seed(
    conversations: ConversationStore,
    session_id: str,
    turns: list[Turn],
    clock: FakeClock,
    *,
    seconds_between: float = 1.0,
) -> list[tuple[str, str]]:
    """Store question and answer per turn; the (messageId, role) of every record, in order."""
    order = []
    for n, (question, reply) in enumerate(turns):
        message_id = f"m{n:03d}"
        conversations.add_user_message(session_id, message_id, question)
        clock.advance(seconds=seconds_between)
        conversations.save_answer(answer(session_id, message_id, reply, clock))
        clock.advance(seconds=seconds_between)
        order += [(message_id, "user"), (message_id, "assistant")]
    return order


def page_back(service: ChatService, sender: LimitedSender, limit: int) -> list[dict[str, Any]]:
    """Every message reachable from the newest page by paging with ``before``, oldest first."""
    frame: dict[str, Any] = {"action": "getHistory", "limit": limit}
    reached: list[dict[str, Any]] = []
    for _ in range(500):
        service.handle_frame(CONNECTION, json.dumps(frame))
        page = sender.last()
        assert page["type"] == "history", page
        assert len(sender.posted[-1][1].encode()) <= MAX_OUTGOING_FRAME_BYTES
        reached = page["messages"] + reached
        if not page["hasMore"]:
            return reached
        assert page["messages"], "a page that says hasMore must name a message to page from"
        frame = {**frame, "before": page["messages"][0]["messageId"]}
    raise AssertionError("paging did not end")


def ids(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["messageId"], m["role"]) for m in messages]


def test_forty_turns_of_long_messages_are_all_reached_once_in_order_within_the_limit(
    service: ChatService, sender: LimitedSender, conversations: ConversationStore, clock: FakeClock
) -> None:
    session_id = connected(service)
    turns = [(f"q{n} " + "x" * 7900, f"a{n} " + "y" * 7900) for n in range(40)]
    order = seed(conversations, session_id, [(q[:7900], a[:7900]) for q, a in turns], clock)

    reached = page_back(service, sender, limit=100)

    assert ids(reached) == order
    assert [m["content"][:4] for m in reached[:2]] == ["q0 x", "a0 y"]
    assert sender.refused == []
    # 7,900 ASCII characters a message: 16 messages fit a frame, not 100.
    assert len(sender.frames()) == 5


@pytest.mark.parametrize(
    "character",
    ["😀", "語", "\x01", '"'],
    ids=["emoji-4-bytes", "cjk-3-bytes", "control-6-bytes-escaped", "quote-2-bytes-escaped"],
)
def test_multi_byte_and_escaped_text_is_sized_by_its_encoded_bytes(
    service: ChatService,
    sender: LimitedSender,
    conversations: ConversationStore,
    clock: FakeClock,
    character: str,
) -> None:
    session_id = connected(service)
    text = "a" + character * (MAX_CONTENT_CHARS - 1)
    order = seed(conversations, session_id, [(text, text)] * 12, clock)

    reached = page_back(service, sender, limit=50)

    assert ids(reached) == order
    assert all(m["content"] == text for m in reached)
    assert sender.refused == []


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_small_limits_page_through_every_message_without_splitting_a_turn(
    service: ChatService,
    sender: LimitedSender,
    conversations: ConversationStore,
    clock: FakeClock,
    limit: int,
) -> None:
    session_id = connected(service)
    order = seed(conversations, session_id, [(f"q{n}", f"a{n}") for n in range(7)], clock)

    reached = page_back(service, sender, limit=limit)

    assert ids(reached) == order
    for page in sender.frames():
        assert page["messages"][0]["role"] == "user"


def test_the_newest_page_holds_whole_turns_and_says_older_ones_exist(
    service: ChatService, sender: LimitedSender, conversations: ConversationStore, clock: FakeClock
) -> None:
    session_id = connected(service)
    seed(conversations, session_id, [(f"q{n}", f"a{n}") for n in range(4)], clock)

    service.handle_frame(CONNECTION, '{"action": "getHistory", "limit": 3}')

    page = sender.last()
    assert ids(page["messages"]) == [("m003", "user"), ("m003", "assistant")]
    assert page["hasMore"] is True


def test_a_frozen_clock_keeps_each_question_before_its_answer_and_pages_without_gaps(
    service: ChatService, sender: LimitedSender, conversations: ConversationStore, clock: FakeClock
) -> None:
    session_id = connected(service)
    # Every record shares one timestamp: the order falls back to messageId, question first.
    order = seed(
        conversations, session_id, [(f"q{n}", f"a{n}") for n in range(9)], clock, seconds_between=0
    )

    assert ids(page_back(service, sender, limit=3)) == order
    assert ids(page_back(service, sender, limit=100)) == order


def test_an_answer_stamped_before_its_question_still_follows_it(
    service: ChatService, sender: LimitedSender, conversations: ConversationStore, clock: FakeClock
) -> None:
    session_id = connected(service)
    conversations.add_user_message(session_id, "late", "question")
    clock.advance(seconds=-5)  # another engine's clock, running behind
    conversations.save_answer(answer(session_id, "late", "answer", clock))

    assert ids(page_back(service, sender, limit=1)) == [("late", "user"), ("late", "assistant")]


def test_questions_sent_before_earlier_answers_arrived_page_without_gaps(
    service: ChatService, sender: LimitedSender, conversations: ConversationStore, clock: FakeClock
) -> None:
    session_id = connected(service)
    # q0 q1 q2, then their answers: three answers side by side.
    for n in range(3):
        conversations.add_user_message(session_id, f"m{n}", f"q{n}")
        clock.advance(seconds=1)
    for n in range(3):
        conversations.save_answer(answer(session_id, f"m{n}", f"a{n}", clock))
        clock.advance(seconds=1)
    conversations.add_user_message(session_id, "m3", "q3")
    expected = [(f"m{n}", "user") for n in range(3)]
    expected += [(f"m{n}", "assistant") for n in range(3)] + [("m3", "user")]

    for limit in (1, 2, 3, 4, 50):
        assert ids(page_back(service, sender, limit=limit)) == expected, limit


def test_the_largest_question_and_answer_fit_one_history_frame(
    service: ChatService, sender: LimitedSender, conversations: ConversationStore, clock: FakeClock
) -> None:
    session_id = connected(service)
    question = "a" + "\x01" * (MAX_CONTENT_CHARS - 1)  # 6 bytes a character in JSON
    conversations.add_user_message(session_id, "big", question)
    citations = [
        Citation(id=str(n), source=f"doc-{n}.md", score=0.5, excerpt="\x02" * 20_000)
        for n in range(1, 6)
    ]
    conversations.save_answer(
        answer(
            session_id,
            "big",
            "😀" * 12_000,
            clock,
            citations=citations,
            sources=[f"doc-{n}.md" for n in range(1, 6)],
            usage=Usage(inputTokens=10**6, outputTokens=10**6, latencyMs=10**6, costUsd=12.5),
        )
    )

    service.handle_frame(CONNECTION, '{"action": "getHistory", "limit": 1}')

    page = sender.last()
    assert ids(page["messages"]) == [("big", "user"), ("big", "assistant")]
    assert page["messages"][0]["content"] == question
    assert page["hasMore"] is False
    assert sender.refused == []
