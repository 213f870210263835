"""Failures over the wire (model outage, tool failure, internal error, rate limit) lose nothing."""

from __future__ import annotations

import pytest

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.engine.engine import ModelFactory
from chatbot.errors import MCPToolError
from chatbot.records import QueryType
from tests.conftest import ScriptedModel
from tests.e2e.conftest import ChatClient

pytestmark = pytest.mark.e2e


class Outage:
    """A model factory whose model is down until ``recover()``; records each call's failure."""

    def __init__(self, error: BaseException) -> None:
        self.model = ScriptedModel(default="Back online and answering.")
        self.model.failing = error

    def __call__(self, query_type: QueryType) -> ScriptedModel:
        return self.model

    def recover(self) -> None:
        self.model.failing = None


@pytest.fixture
def outage() -> Outage:
    # Not a throttle: Strands retries those itself with backoff (the model issue tunes that).
    return Outage(ConnectionError("EndpointConnectionError: could not reach bedrock-runtime"))


@pytest.fixture
def model_for(outage: Outage) -> ModelFactory:
    return outage


async def test_a_model_outage_is_retryable_keeps_the_message_and_a_resend_answers_it(
    client: ChatClient, gateway: LocalGateway, outage: Outage
) -> None:
    session = await client.session()
    frames = await client.ask("down", "Are you there?")
    assert [f["type"] for f in frames] == ["ack", "error"]
    error = frames[-1]
    assert (error["code"], error["retryable"], error["messageId"]) == (
        "MODEL_UNAVAILABLE",
        True,
        "down",
    )
    assert "bedrock" not in error["message"]
    assert gateway.runtime is not None
    kept = gateway.runtime.conversations.get(session["sessionId"], "down", "user")
    assert kept is not None and (kept.content, kept.status) == ("Are you there?", "failed")

    outage.recover()
    retry = await client.ask("down", "Are you there?")
    assert retry[0]["duplicate"] is True
    assert retry[-1]["type"] == "message"
    assert retry[-1]["content"] == "Back online and answering."
    history = gateway.runtime.conversations.history(session["sessionId"], limit=10)
    assert [(r.messageType, r.status) for r in history] == [
        ("user", "answered"),
        ("assistant", None),
    ]


async def test_a_resend_while_the_first_attempt_is_pending_does_not_answer_twice(
    client: ChatClient, gateway: LocalGateway, outage: Outage
) -> None:
    outage.recover()
    session = await client.session()
    await client.send({"action": "sendMessage", "messageId": "twice", "content": "once only"})
    await client.send({"action": "sendMessage", "messageId": "twice", "content": "once only"})
    frames = await client.until_final("twice")
    rest = [frame for frame in frames if frame["type"] != "delta"]
    assert rest[0]["type"] == "ack"
    assert gateway.runtime is not None
    history = gateway.runtime.conversations.history(session["sessionId"], limit=10)
    assert [r.messageType for r in history] == ["user", "assistant"]
    assert len(outage.model.calls) == 1


class ToolFailure:
    def __call__(self, query_type: QueryType) -> ScriptedModel:
        return ScriptedModel([MCPToolError("create_record", "table is read-only")])


class Broken:
    def __call__(self, query_type: QueryType) -> ScriptedModel:
        raise RuntimeError("misconfigured model factory")


@pytest.mark.parametrize(
    ("model_for", "code", "retryable"),
    [(ToolFailure(), "MCP_TOOL_ERROR", False), (Broken(), "INTERNAL_ERROR", True)],
)
async def test_engine_failures_reach_the_client_with_their_code_and_the_session_goes_on(
    client: ChatClient, gateway: LocalGateway, code: str, retryable: bool
) -> None:
    session = await client.session()
    frames = await client.ask("t1", "create a record titled Groceries")
    error = frames[-1]
    assert (error["type"], error["code"], error["retryable"]) == ("error", code, retryable)
    assert "read-only" not in error["message"] and "misconfigured" not in error["message"]
    await client.ping()
    assert gateway.runtime is not None
    kept = gateway.runtime.conversations.get(session["sessionId"], "t1", "user")
    assert kept is not None and kept.status == "failed"


# The offline model (model_for None), with a limit of three messages a minute.
@pytest.mark.parametrize(("model_for", "rate_limit_per_minute"), [(None, 3)])
async def test_past_the_rate_limit_messages_are_refused_and_not_stored(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    for n in range(3):
        assert (await client.ask(f"ok{n}", "hello"))[-1]["type"] == "message"
    refused = await client.ask("over", "one too many")
    assert [(f["type"], f.get("code"), f.get("retryable")) for f in refused] == [
        ("error", "RATE_LIMITED", True)
    ]
    assert gateway.runtime is not None
    assert gateway.runtime.conversations.get(session["sessionId"], "over", "user") is None
    # A duplicate of an accepted message is not counted against the limit.
    assert (await client.ask("ok0", "hello"))[0]["duplicate"] is True


async def test_a_resend_of_a_message_whose_answer_stalled_answers_it(
    client: ChatClient, gateway: LocalGateway, outage: Outage
) -> None:
    outage.recover()
    session = await client.session()
    assert gateway.runtime is not None
    # As if the engine had died mid-answer ten minutes ago: pending, no answer.
    gateway.runtime.conversations.add_user_message(session["sessionId"], "stuck", "still there?")
    gateway.runtime.tables.conversations.update(
        {"sessionId": session["sessionId"], "recordId": "stuck#user"},
        set_values={"leaseUntil": "2020-01-01T00:00:00.000000Z"},
    )
    frames = await client.ask("stuck", "still there?")
    assert frames[0]["duplicate"] is True
    assert frames[-1]["type"] == "message"
    assert frames[-1]["content"] == "Back online and answering."
