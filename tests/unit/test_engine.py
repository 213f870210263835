"""The chatbot engine on a scripted Strands model: the real agent loop, streaming and storage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from strands import tool

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.ports import EngineRequest
from chatbot.records import QueryType
from chatbot.server_frames import HistoryEntry
from chatbot.tables import Tables
from tests.conftest import FakeClock, ScriptedModel, scripted
from tests.unit.conftest import RecordingSender, events_of

SESSION = "s-1"


def frames(sender: RecordingSender) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in sender.posted]


def engine_with(
    model: ScriptedModel,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tools: list[Any] | None = None,
    policy: AnswerPolicy | None = None,
    clock: FakeClock | None = None,
    **collaborators: Any,
) -> ChatbotEngine:
    """The engine on the test's stores; ``clock`` is the one the stores read, when the test
    moves it (the default starts at the same fixed moment); ``collaborators`` go to the
    engine as they are (a token budget, say)."""
    return ChatbotEngine(
        clock=clock or FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(model),
        policy=policy or AnswerPolicy(history_turns=10),
        tools_for=(lambda query_type, session_id: tools or []) if tools else None,
        **collaborators,
    )


def ask(conversations: ConversationStore, message_id: str, content: str) -> EngineRequest:
    conversations.add_user_message(SESSION, message_id, content)
    return EngineRequest(sessionId=SESSION, messageId=message_id, connectionId="c-1")


async def test_the_answer_streams_as_deltas_then_is_stored_and_sent_whole(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> None:
    engine = engine_with(
        ScriptedModel(["Paris is the capital of France."]), conversations, analytics, sender
    )
    answer = await engine.process_message(ask(conversations, "m1", "Capital of France?"))
    sent = frames(sender)
    deltas, final = sent[:-1], sent[-1]
    # The first fragment goes at once; the rest, written faster than the coalescing window,
    # in one more frame.
    assert [(d["type"], d["index"]) for d in deltas] == [("delta", 0), ("delta", 1)]
    assert deltas[0]["content"] == "Paris is "
    assert (
        "".join(d["content"] for d in deltas)
        == final["content"]
        == "Paris is the capital of France."
    )
    assert answer is not None and answer.content == final["content"]
    user = conversations.get(SESSION, "m1", "user")
    assert user is not None and user.status == "answered"
    [query] = events_of(tables, answer.timestamp[:10], "query")
    assert query["details"]["queryType"] == "general"
    assert (query["details"]["inputTokens"], query["details"]["outputTokens"]) == (5, 7)


async def test_running_twice_answers_once(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    model = ScriptedModel(["first answer", "second answer"])
    engine = engine_with(model, conversations, analytics, sender)
    request = ask(conversations, "m1", "hello")
    await engine.process_message(request)
    again = await engine.process_message(request)
    assert again is not None and again.content == "first answer"
    assert len(model.calls) == 1
    assert frames(sender)[-1]["content"] == "first answer"


async def test_a_message_that_was_never_stored_is_not_answered(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    engine = engine_with(ScriptedModel(), conversations, analytics, sender)
    request = EngineRequest(sessionId=SESSION, messageId="ghost", connectionId="c-1")
    assert await engine.process_message(request) is None
    assert sender.posted == []


async def test_a_model_failure_is_model_unavailable_and_the_message_is_kept_as_failed(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> None:
    engine = engine_with(
        ScriptedModel([TimeoutError("read timed out")]), conversations, analytics, sender
    )
    assert await engine.process_message(ask(conversations, "m1", "hello")) is None
    [error] = frames(sender)
    assert (error["type"], error["code"], error["retryable"], error["messageId"]) == (
        "error",
        "MODEL_UNAVAILABLE",
        True,
        "m1",
    )
    user = conversations.get(SESSION, "m1", "user")
    assert user is not None and user.status == "failed"
    assert conversations.get(SESSION, "m1", "assistant") is None
    [event] = events_of(tables, user.timestamp[:10], "error")
    assert event["details"]["code"] == "MODEL_UNAVAILABLE"


async def test_the_answer_is_stored_even_when_the_client_left_mid_stream(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    sender.gone.add("c-1")
    engine = engine_with(ScriptedModel(["still stored"]), conversations, analytics, sender)
    answer = await engine.process_message(ask(conversations, "m1", "hello"))
    assert answer is not None
    stored = conversations.get(SESSION, "m1", "assistant")
    assert stored is not None and stored.content == "still stored"


async def test_earlier_answered_turns_are_the_models_context_in_order(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> None:
    model = ScriptedModel(["one", "two"])
    engine = engine_with(model, conversations, analytics, sender, clock=clock)
    await engine.process_message(ask(conversations, "m1", "first"))
    clock.advance(seconds=1)
    conversations.add_user_message(SESSION, "lost", "never answered")
    clock.advance(seconds=1)
    await engine.process_message(ask(conversations, "m2", "second"))
    second_call = model.calls[1]
    assert [(m["role"], m["content"][0]["text"]) for m in second_call] == [
        ("user", "first"),
        ("assistant", "one"),
        ("user", "second"),
    ]


@tool
def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: the text to count
    """
    return len(text.split())


async def test_tool_calls_fill_tools_used_and_record_tool_usage(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> None:
    model = ScriptedModel(
        [{"tool": "word_count", "input": {"text": "a b c"}}, "There are 3 words."]
    )
    engine = engine_with(model, conversations, analytics, sender, tools=[word_count])
    answer = await engine.process_message(ask(conversations, "m1", "count the words in a b c"))
    assert answer is not None
    assert answer.toolsUsed == ["word_count"]
    assert frames(sender)[-1]["toolsUsed"] == ["word_count"]
    [usage] = events_of(tables, answer.timestamp[:10], "tool_usage")
    assert usage["details"]["tool"] == "word_count"
    assert usage["details"]["success"] is True
    # The tool's result went back to the model.
    tool_result = model.calls[1][-1]["content"][0]["toolResult"]
    assert tool_result["status"] == "success"


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: the order's id
    """
    raise RuntimeError("order service unavailable")


async def test_each_tool_call_is_listed_in_order_with_whether_it_succeeded(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> None:
    model = ScriptedModel(
        [
            {"tool": "lookup_order", "input": {"order_id": "12345678"}},
            {"tool": "word_count", "input": {"text": "a b"}},
            {"tool": "word_count", "input": {"text": "a b c"}},
            "The order lookup failed; the text has 3 words.",
        ]
    )
    engine = engine_with(model, conversations, analytics, sender, tools=[lookup_order, word_count])
    answer = await engine.process_message(ask(conversations, "m1", "look up order 12345678"))
    runs = [
        {"name": "lookup_order", "success": False},
        {"name": "word_count", "success": True},
        {"name": "word_count", "success": True},
    ]
    assert answer is not None
    stored = conversations.get(SESSION, "m1", "assistant")
    assert stored is not None
    assert [run.model_dump() for run in stored.tools or []] == runs
    # toolsUsed stays as it was: each tool's name once, in first-call order.
    assert stored.toolsUsed == ["lookup_order", "word_count"]
    final = frames(sender)[-1]
    assert (final["type"], final["tools"], final["toolsUsed"]) == (
        "message",
        runs,
        ["lookup_order", "word_count"],
    )
    entry = HistoryEntry.from_record(stored).model_dump(mode="json", exclude_none=True)
    assert entry["tools"] == runs
    # One tool_usage event per call too (the analytics table keeps no call order).
    usage = events_of(tables, answer.timestamp[:10], "tool_usage")
    assert sorted((e["details"]["tool"], e["details"]["success"]) for e in usage) == sorted(
        (run["name"], run["success"]) for run in runs
    )


async def test_an_answer_without_tool_calls_has_no_tools_field(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    engine = engine_with(ScriptedModel(["Hello."]), conversations, analytics, sender)
    await engine.process_message(ask(conversations, "m1", "Say hello to me"))
    stored = conversations.get(SESSION, "m1", "assistant")
    assert stored is not None and stored.tools is None
    assert "tools" not in frames(sender)[-1]
    assert "tools" not in HistoryEntry.from_record(stored).model_dump(exclude_none=True)


async def test_without_a_router_the_keyword_rules_route(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    engine = engine_with(ScriptedModel(), conversations, analytics, sender)
    decision = await engine.determine_query_type("delete record 12345678")
    assert (decision.query_type, decision.method) == (QueryType.MCP_TOOL, "rules")


async def test_the_semantic_routers_decision_routes_and_is_recorded_with_the_query(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> None:
    from chatbot.engine.semantic_router import QueryRouter
    from tests.unit.test_semantic_router import EXAMPLES, FakeEmbeddings

    engine = ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(ScriptedModel(["Hi!"])),
        router=QueryRouter(FakeEmbeddings(), EXAMPLES),
    )
    answer = await engine.process_message(ask(conversations, "m1", "hello hello"))
    assert answer is not None and answer.queryType is QueryType.GENERAL
    [query] = events_of(tables, answer.timestamp[:10], "query")
    assert query["details"]["routedBy"] == "semantic"
    assert query["details"]["queryType"] == "general"


@pytest.mark.parametrize("turns", [0])
async def test_no_history_is_sent_when_history_turns_is_zero(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    turns: int,
) -> None:
    model = ScriptedModel(["a", "b"])
    engine = ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(model),
        policy=AnswerPolicy(history_turns=turns),
    )
    await engine.process_message(ask(conversations, "m1", "first"))
    await engine.process_message(ask(conversations, "m2", "second"))
    assert len(model.calls[1]) == 1


async def test_an_answer_finished_after_a_reconnect_reaches_the_new_connection(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    sessions: Any,
) -> None:
    session = sessions.create_session()
    sessions.bind_connection("old", session.sessionId, resumed=False)
    sessions.bind_connection("new", session.sessionId, resumed=True)
    sender.gone.add("old")
    engine = ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(ScriptedModel(["worth the wait"])),
        policy=AnswerPolicy(history_turns=10),
        connections_of=sessions.connections_of,
    )
    conversations.add_user_message(session.sessionId, "m1", "slow question")
    await engine.process_message(
        EngineRequest(sessionId=session.sessionId, messageId="m1", connectionId="old")
    )
    [(connection_id, data)] = sender.posted
    assert connection_id == "new"
    assert json.loads(data)["content"] == "worth the wait"


@pytest.mark.parametrize("allowed", [False, True])
async def test_logs_carry_what_the_user_wrote_only_where_configuration_allows(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    caplog: pytest.LogCaptureFixture,
    allowed: bool,
) -> None:
    secret = "my account number is 4242-1111"
    engine = ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(ScriptedModel([ValueError(f"cannot parse {secret!r}")])),
        policy=AnswerPolicy(log_user_content=allowed),
    )
    caplog.set_level("DEBUG")
    assert await engine.process_message(ask(conversations, "m1", secret)) is None
    # Everything a log line carries: its message and every extra field.
    logged = "\n".join(str(vars(record)) for record in caplog.records)
    [failed] = [r for r in caplog.records if r.getMessage() == "answer failed"]
    assert vars(failed)["code"] == "MODEL_UNAVAILABLE" and vars(failed)["error"] == "ValueError"
    assert (secret in logged) is allowed


async def test_past_the_token_budget_the_oldest_turns_are_dropped_and_summarised(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> None:
    model = ScriptedModel(default="a" * 40)  # 10 tokens an answer
    engine = ChatbotEngine(
        clock=clock,
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(model),
        # Each turn is 10 + 10 tokens: a budget of 45 keeps the last two.
        policy=AnswerPolicy(context_token_budget=45),
    )
    for number in range(5):
        clock.advance(seconds=1)
        await engine.process_message(
            ask(conversations, f"m{number}", f"question {number}".ljust(40))
        )
    sent = [block["content"][0]["text"].strip() for block in model.calls[-1]]
    # The two newest earlier turns, then the question itself.
    assert sent == ["question 2", "a" * 40, "question 3", "a" * 40, "question 4"]
    summary = model.system_prompts[-1] or ""
    assert "(2 exchanges no longer shown)" in summary
    assert '"question 1"' in summary and '"question 0"' in summary
    assert model.system_prompts[0] is not None and "no longer shown" not in model.system_prompts[0]
