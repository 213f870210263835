"""Model retries: transient failures retried with jittered backoff inside the deadline, through
the real Strands agent loop on a scripted model; a model that stays down is MODEL_UNAVAILABLE."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from strands.types.exceptions import ModelThrottledException

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.engine.retry import DeadlineRetryStrategy, RetryPolicy, is_transient
from chatbot.tables import Tables
from tests.conftest import PartialFailure, ScriptedModel
from tests.unit.conftest import RecordingSender, events_of
from tests.unit.test_engine import SESSION, ask, engine_with, frames

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.004, min_attempt_seconds=0)


def throttled() -> ModelThrottledException:
    return ModelThrottledException("Too many requests")


def unavailable() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ServiceUnavailableException", "Message": "busy"}}, "ConverseStream"
    )


def engine_for(
    model: ScriptedModel,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
) -> ChatbotEngine:
    return engine_with(model, conversations, analytics, sender, policy=AnswerPolicy(retry=FAST))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (throttled(), True),
        (unavailable(), True),
        (ReadTimeoutError(endpoint_url="https://bedrock"), True),
        (RuntimeError("wrapped"), False),
        (ValueError("bad request"), False),
        (ClientError({"Error": {"Code": "ValidationException"}}, "Converse"), False),
    ],
)
def test_which_errors_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_cause_that_is_transient_makes_the_error_transient() -> None:
    outer = RuntimeError("stream failed")
    outer.__cause__ = throttled()
    assert is_transient(outer)


async def test_a_model_failing_twice_then_answering_answers_once_with_nothing_repeated(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> None:
    model = ScriptedModel([throttled(), unavailable(), "Back again."])
    engine = engine_for(model, conversations, analytics, sender)
    answer = await engine.process_message(ask(conversations, "m1", "hello"))
    assert answer is not None and answer.content == "Back again."
    assert len(model.calls) == 3
    sent = frames(sender)
    assert [f["type"] for f in sent][-1] == "message"
    assert "".join(f["content"] for f in sent if f["type"] == "delta") == "Back again."
    assert [e["details"]["queryType"] for e in events_of(tables, answer.timestamp[:10], "query")]


async def test_a_model_down_is_unavailable_after_max_attempts_and_a_later_retry_works(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
) -> None:
    model = ScriptedModel(default="Recovered.")
    model.failing = throttled()
    engine = engine_for(model, conversations, analytics, sender)
    request = ask(conversations, "m1", "hello")
    assert await engine.process_message(request) is None
    assert len(model.calls) == FAST.max_attempts
    [error] = frames(sender)
    assert (error["code"], error["retryable"]) == ("MODEL_UNAVAILABLE", True)
    stored = conversations.get(SESSION, "m1", "user")
    assert stored is not None and stored.status == "failed" and stored.content == "hello"
    # The service recovers; the user's resend claims a new attempt, which answers it.
    model.failing = None
    assert conversations.claim_retry(stored)
    answer = await engine.process_message(request)
    assert answer is not None and answer.content == "Recovered."


async def test_no_retry_once_text_has_reached_the_client(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
) -> None:
    model = ScriptedModel([PartialFailure("Half an answer", throttled()), "never asked"])
    engine = engine_for(model, conversations, analytics, sender)
    assert await engine.process_message(ask(conversations, "m1", "hello")) is None
    assert len(model.calls) == 1
    assert frames(sender)[-1]["code"] == "MODEL_UNAVAILABLE"


async def test_errors_that_are_not_transient_are_not_retried(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
) -> None:
    model = ScriptedModel([ValueError("malformed request"), "never asked"])
    engine = engine_for(model, conversations, analytics, sender)
    assert await engine.process_message(ask(conversations, "m1", "hello")) is None
    assert len(model.calls) == 1


class Timeline:
    """A monotonic clock and a sleep that only moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_backoff_doubles_to_its_cap_with_full_jitter_and_stops_at_the_deadline(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
) -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=4.0, min_attempt_seconds=5.0)
    time = Timeline()
    strategy = DeadlineRetryStrategy(
        policy, deadline=20.0, clock=time.clock, sleep=time.sleep, jitter=lambda: 1.0
    )
    assert [strategy.backoff(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    model = ScriptedModel()
    model.failing = throttled()
    from strands import Agent

    agent = Agent(model=model, callback_handler=None, retry_strategy=strategy)
    with pytest.raises(ModelThrottledException):
        await agent.invoke_async("hello")
    # Waits of 1, 2, 4, 4 reach t=11; another 4 would leave 20 - 15 = 5 s: just enough; the
    # next would not. Every retry left at least min_attempt_seconds before the deadline.
    assert time.slept == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(model.calls) == 6
    assert all(20.0 - at >= 5.0 for at in _cumulative(time.slept))


async def test_jitter_scales_each_wait_below_its_backoff() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=2.0, max_delay=100.0, min_attempt_seconds=0)
    time = Timeline()
    strategy = DeadlineRetryStrategy(
        policy, deadline=None, clock=time.clock, sleep=time.sleep, jitter=lambda: 0.25
    )
    from strands import Agent

    model = ScriptedModel()
    model.failing = throttled()
    agent = Agent(model=model, callback_handler=None, retry_strategy=strategy)
    with pytest.raises(ModelThrottledException):
        await agent.invoke_async("hello")
    assert time.slept == [0.5, 1.0]  # 0.25 of 2 and of 4; the third attempt is the last


def _cumulative(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out
