"""Lambda delivers an asynchronous invocation at least once: the engine, on DynamoDB (moto),
answers a message once however often it is invoked, and a failed answer waits for the
user's resend, which the claim on the message lets through once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chatbot.adapters.aws.tables import create_table
from chatbot.config import Settings
from chatbot.engine.factory import build_engine
from chatbot.handlers import engine as engine_handler
from chatbot.handlers import websocket as websocket_handler
from chatbot.runtime import Runtime, build_chat_service, runtime_from_settings
from chatbot.tables import ALL_TABLES
from tests.conftest import FakeClock, ScriptedModel, scripted
from tests.integration.test_aws_handlers import ENVIRONMENT, api_gateway_event
from tests.unit.conftest import RecordingInvoker, RecordingSender


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    # Model retries back off for milliseconds here, not seconds.
    monkeypatch.setenv("MODEL_RETRY_BASE_SECONDS", "0.001")
    monkeypatch.setenv("MODEL_RETRY_MAX_SECONDS", "0.001")
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="chatbot-session-key", SecretString="0123456789abcdef0123456789abcdef"
        )
        monkeypatch.setenv("SESSION_SECRET_ARN", secret["ARN"])
        settings = Settings()
        client = boto3.client("dynamodb")
        for spec in ALL_TABLES:
            create_table(client, spec, settings.table_names[spec.name])
        yield runtime_from_settings(settings, FakeClock(tick=timedelta(milliseconds=1)))


class Chat:
    """One connected client: the websocket handler in front, the engine behind it."""

    def __init__(self, runtime: Runtime, model: ScriptedModel) -> None:
        self.runtime = runtime
        self.sender, self.invoker = RecordingSender(), RecordingInvoker()
        self.service = build_chat_service(runtime, self.sender, self.invoker)
        self.engine = build_engine(runtime, self.sender, model_for=scripted(model), router=None)
        self.frame({"action": "getSession"}, route="$connect")
        self.session_id = str(self.frames()[-1]["sessionId"])

    def frame(self, body: dict[str, Any], route: str | None = None) -> None:
        route = route or str(body["action"])
        event = (
            api_gateway_event(route, "conn-1", headers={"User-Agent": "pytest"})
            if route == "$connect"
            else api_gateway_event(route, "conn-1", body=json.dumps(body))
        )
        websocket_handler.handle_event(event, self.service)
        if route == "$connect":
            websocket_handler.handle_event(
                api_gateway_event("getSession", "conn-1", body=json.dumps(body)), self.service
            )

    def send(self, message_id: str, content: str) -> None:
        self.frame({"action": "sendMessage", "messageId": message_id, "content": content})

    def invoke(self, index: int = -1) -> dict[str, Any]:
        """The engine as Lambda runs it for the handler's ``index``-th invocation request."""
        return engine_handler.handle_event(self.invoker.requests[index].model_dump(), self.engine)

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(data) for _, data in self.sender.posted]

    def stored(self) -> list[tuple[str, str | None, str]]:
        records = self.runtime.conversations.history(self.session_id, limit=10)
        return [(r.messageType, r.status, r.content) for r in records]


def test_a_redelivered_invocation_resends_the_stored_answer_and_never_answers_again(
    deployed: Runtime,
) -> None:
    model = ScriptedModel(["The first answer.", "A second answer that must never be made."])
    chat = Chat(deployed, model)
    chat.send("m1", "Hello")
    [request] = chat.invoker.requests

    assert chat.invoke() == {"answered": True}
    first = chat.frames()[-1]
    assert chat.invoke() == {"answered": True}  # Lambda delivered the same event again

    assert len(model.calls) == 1
    again = chat.frames()[-1]
    assert (again["type"], again["messageId"], again["content"]) == (
        "message",
        request.messageId,
        first["content"],
    )
    assert "The first answer." in first["content"]
    assert chat.stored() == [
        ("user", "answered", "Hello"),
        ("assistant", None, first["content"]),
    ]


def test_a_failed_invocation_leaves_the_message_failed_and_the_users_resend_answers_it(
    deployed: Runtime,
) -> None:
    model = ScriptedModel(default="Answered on the resend.")
    model.failing = TimeoutError("read timed out")
    chat = Chat(deployed, model)
    chat.send("m1", "Hello")

    assert chat.invoke() == {"answered": False}
    error = chat.frames()[-1]
    assert (error["type"], error["code"], error["messageId"]) == (
        "error",
        "MODEL_UNAVAILABLE",
        "m1",
    )
    assert chat.stored() == [("user", "failed", "Hello")]

    model.failing = None
    chat.send("m1", "Hello")  # the user's resend claims a new attempt
    chat.send("m1", "Hello")  # a second resend finds it claimed: no second attempt
    assert len(chat.invoker.requests) == 2
    acks = [f for f in chat.frames() if f["type"] == "ack"]
    assert [a.get("duplicate", False) for a in acks] == [False, True, True]

    assert chat.invoke() == {"answered": True}
    assert chat.invoke() == {"answered": True}  # and its redelivery answers nothing new
    answer = chat.frames()[-1]
    assert answer["type"] == "message" and "Answered on the resend." in answer["content"]
    assert chat.stored() == [
        ("user", "answered", "Hello"),
        ("assistant", None, answer["content"]),
    ]
