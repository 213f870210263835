"""Daily token budgets: checked before the model is called, charged with the answer's tokens
after it, refused with QUOTA_EXCEEDED (not retryable until the window in its message), reset
at the next UTC midnight. The scripted model reports 5 input + 7 output tokens an answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.budget import DEPLOYMENT_SHARDS, BudgetPolicy, TokenBudget
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.engine.semantic_router import QueryRouter, model_classifier
from chatbot.errors import QuotaExceededError
from chatbot.ports import EngineRequest
from chatbot.records import Usage
from chatbot.tables import Tables
from tests.conftest import FakeClock, ScriptedModel
from tests.unit.conftest import RecordingSender
from tests.unit.test_engine import engine_with
from tests.unit.test_semantic_router import EXAMPLES, FakeEmbeddings

ANSWER_TOKENS = 12


def engine_on(
    budget: TokenBudget,
    model: ScriptedModel,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> ChatbotEngine:
    policy = AnswerPolicy(history_turns=0)
    return engine_with(
        model, conversations, analytics, sender, policy=policy, clock=clock, budget=budget
    )


async def ask(
    engine: ChatbotEngine, conversations: ConversationStore, session: str, message_id: str
) -> dict[str, Any]:
    conversations.add_user_message(session, message_id, "Tell me about budgets please")
    await engine.process_message(
        EngineRequest(sessionId=session, messageId=message_id, connectionId="c")
    )
    return dict(json.loads(engine_sender(engine).posted[-1][1]))


def engine_sender(engine: ChatbotEngine) -> RecordingSender:
    sender = engine._sender
    assert isinstance(sender, RecordingSender)
    return sender


async def test_a_session_past_its_daily_tokens_gets_quota_exceeded_without_a_model_call(
    tables: Tables,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> None:
    budget = TokenBudget(tables.limits, BudgetPolicy(20, 0), clock=clock)
    model = ScriptedModel()
    engine = engine_on(budget, model, conversations, analytics, sender, clock)
    assert (await ask(engine, conversations, "s1", "m1"))["type"] == "message"
    # 12 used of 20: still under, so one more answer (the check bounds, it does not meter).
    assert (await ask(engine, conversations, "s1", "m2"))["type"] == "message"
    calls = len(model.calls)
    refused = await ask(engine, conversations, "s1", "m3")
    assert (refused["type"], refused["code"], refused["retryable"]) == (
        "error",
        "QUOTA_EXCEEDED",
        False,
    )
    assert refused["messageId"] == "m3"
    assert "20,000" not in refused["message"] and "20 tokens" in refused["message"]
    assert "2026-11-25 00:00 UTC" in refused["message"]
    assert len(model.calls) == calls
    question = conversations.get("s1", "m3", "user")
    assert question is not None and question.status == "failed"
    assert conversations.get("s1", "m3", "assistant") is None
    # Another session is not held back by this one's budget.
    assert (await ask(engine, conversations, "s2", "m1"))["type"] == "message"


async def test_the_session_budget_resets_at_the_next_utc_midnight(
    tables: Tables,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> None:
    budget = TokenBudget(tables.limits, BudgetPolicy(10, 0), clock=clock)
    engine = engine_on(budget, ScriptedModel(), conversations, analytics, sender, clock)
    assert (await ask(engine, conversations, "s1", "m1"))["type"] == "message"
    assert (await ask(engine, conversations, "s1", "m2"))["code"] == "QUOTA_EXCEEDED"
    clock.advance(hours=11, minutes=59)  # 23:59 UTC: still today
    assert (await ask(engine, conversations, "s1", "m3"))["code"] == "QUOTA_EXCEEDED"
    clock.advance(minutes=1)
    assert (await ask(engine, conversations, "s1", "m4"))["type"] == "message"


async def test_the_deployment_budget_holds_back_every_session_once_used_up(
    tables: Tables,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> None:
    budget = TokenBudget(tables.limits, BudgetPolicy(0, 3 * ANSWER_TOKENS), clock=clock)
    engine = engine_on(budget, ScriptedModel(), conversations, analytics, sender, clock)
    for n in range(3):
        assert (await ask(engine, conversations, f"s{n}", "m"))["type"] == "message"
    refused = await ask(engine, conversations, "fresh", "m")
    assert refused["code"] == "QUOTA_EXCEEDED"
    assert "usage limit for today" in refused["message"]


def test_the_deployment_counter_is_sharded_and_the_check_adds_the_shards(
    tables: Tables, clock: FakeClock
) -> None:
    budget = TokenBudget(tables.limits, BudgetPolicy(0, 1000), clock=clock)
    for n in range(40):
        budget.charge(f"s{n}", f"message-{n}", Usage(inputTokens=20, outputTokens=4))
    day = clock.now().strftime("%Y-%m-%d")
    shards = [
        tables.limits.get({"counterId": f"tokens#deployment#{day}#{shard}"})
        for shard in range(DEPLOYMENT_SHARDS)
    ]
    used = [int(item["count"]) for item in shards if item is not None]
    assert len(used) > 1 and sum(used) == 40 * 24
    budget.check("s-new")  # 960 of 1000
    budget.charge("s0", "one-more", Usage(inputTokens=40))
    with pytest.raises(QuotaExceededError):
        budget.check("s-new")


def test_counters_expire_a_day_after_their_day(tables: Tables, clock: FakeClock) -> None:
    budget = TokenBudget(tables.limits, BudgetPolicy(50, 0), clock=clock)
    budget.charge("s1", "m1", Usage(inputTokens=60))
    day = clock.now().strftime("%Y-%m-%d")
    [item] = [tables.limits.get({"counterId": f"tokens#session#s1#{day}"})]
    assert item is not None and item["count"] == 60
    assert item["ttl"] == int(clock.now().replace(hour=0, minute=0).timestamp()) + 2 * 86_400


@pytest.mark.parametrize("policy", [BudgetPolicy(20, 0), BudgetPolicy(0, 20)])
async def test_a_spent_budget_is_refused_before_the_router_embeds_or_asks_the_model(
    policy: BudgetPolicy,
    tables: Tables,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    clock: FakeClock,
) -> None:
    budget = TokenBudget(tables.limits, policy, clock=clock)
    budget.charge("s1", "earlier", Usage(inputTokens=15, outputTokens=5))
    model = ScriptedModel()
    embeddings = FakeEmbeddings()
    # "policy record" lies between two routes: a router that ran would ask the model.
    router = QueryRouter(embeddings, EXAMPLES, classify=model_classifier(model))
    engine = engine_with(
        model,
        conversations,
        analytics,
        sender,
        policy=AnswerPolicy(history_turns=0),
        clock=clock,
        budget=budget,
        router=router,
    )
    conversations.add_user_message("s1", "m1", "policy record")
    await engine.process_message(EngineRequest(sessionId="s1", messageId="m1", connectionId="c"))
    assert model.calls == [] and embeddings.queries == []
    [(_, frame)] = sender.posted
    refused = json.loads(frame)
    assert (refused["type"], refused["code"], refused["messageId"]) == (
        "error",
        "QUOTA_EXCEEDED",
        "m1",
    )
    assert refused["retryable"] is False
    question = conversations.get("s1", "m1", "user")
    assert question is not None and question.status == "failed"
    assert conversations.get("s1", "m1", "assistant") is None
