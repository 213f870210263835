"""The Lambda handlers as deployed: CHATBOT_ENV=aws, DynamoDB and Secrets Manager on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chatbot.adapters.aws.tables import create_table
from chatbot.chat_service import ChatService
from chatbot.config import Settings
from chatbot.engine.factory import build_engine
from chatbot.handlers import engine as engine_handler
from chatbot.handlers import websocket as websocket_handler
from chatbot.runtime import Runtime, build_chat_service, runtime_from_settings
from chatbot.tables import ALL_TABLES
from chatbot.tokens import SessionTokens
from tests.conftest import FAKE_AWS_ENVIRONMENT, FakeClock
from tests.unit.conftest import RecordingInvoker, RecordingSender

ENVIRONMENT = {
    **FAKE_AWS_ENVIRONMENT,
    "AWS_REGION": "us-east-1",
    "CHATBOT_ENV": "aws",
    "SESSIONS_TABLE": "test-sessions",
    "CONNECTIONS_TABLE": "test-connections",
    "CONVERSATIONS_TABLE": "test-conversations",
    "ANALYTICS_TABLE": "test-analytics",
}


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="chatbot-session-key", SecretString="0123456789abcdef0123456789abcdef"
        )
        monkeypatch.setenv("SESSION_SECRET_ARN", secret["ARN"])
        client = boto3.client("dynamodb")
        settings = Settings()
        for spec in ALL_TABLES:
            create_table(client, spec, settings.table_names[spec.name])
        yield runtime_from_settings(settings, FakeClock(tick=timedelta(milliseconds=1)))


def api_gateway_event(route: str, connection_id: str, **fields: Any) -> dict[str, Any]:
    """An event as API Gateway sends it (only the fields the handler reads vary)."""
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    return {
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "connectionId": connection_id,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "stage": "prod",
            "requestId": "r-1",
            "apiId": "abc123",
            "connectedAt": 1_700_000_000_000,
            "requestTimeEpoch": 1_700_000_000_000,
            "messageDirection": "IN",
        },
        "isBase64Encoded": False,
        **fields,
    }


def test_the_handlers_chat_end_to_end_on_dynamodb(runtime: Runtime) -> None:
    sender, invoker = RecordingSender(), RecordingInvoker()
    service: ChatService = build_chat_service(runtime, sender, invoker)

    connected = websocket_handler.handle_event(
        api_gateway_event("$connect", "conn-1", headers={"User-Agent": "pytest"}), service
    )
    assert connected == {"statusCode": 200}
    websocket_handler.handle_event(
        api_gateway_event("getSession", "conn-1", body='{"action": "getSession"}'), service
    )
    session = json.loads(sender.posted[-1][1])
    assert session["type"] == "session"

    body = json.dumps({"action": "sendMessage", "messageId": "m1", "content": "Hello from Lambda"})
    websocket_handler.handle_event(api_gateway_event("sendMessage", "conn-1", body=body), service)
    ack = json.loads(sender.posted[-1][1])
    assert ack["type"] == "ack" and ack["messageId"] == "m1"
    [request] = invoker.requests

    result = engine_handler.handle_event(request.model_dump(), build_engine(runtime, sender))
    assert result == {"answered": True}
    final = json.loads(sender.posted[-1][1])
    assert final["type"] == "message" and "Hello from Lambda" in final["content"]

    stored = runtime.conversations.history(session["sessionId"], limit=10)
    assert [(r.messageType, r.status) for r in stored] == [
        ("user", "answered"),
        ("assistant", None),
    ]

    resumed = websocket_handler.handle_event(
        api_gateway_event(
            "$connect",
            "conn-2",
            queryStringParameters={
                "sessionId": session["sessionId"],
                "sessionToken": session["sessionToken"],
            },
        ),
        service,
    )
    assert resumed == {"statusCode": 200}
    refused = websocket_handler.handle_event(
        api_gateway_event(
            "$connect",
            "conn-3",
            queryStringParameters={"sessionId": session["sessionId"], "sessionToken": "forged"},
        ),
        service,
    )
    assert refused == {"statusCode": 401}

    websocket_handler.handle_event(api_gateway_event("$disconnect", "conn-1"), service)
    assert runtime.tables.connections.get({"connectionId": "conn-1"}) is None


def test_the_session_token_key_comes_from_secrets_manager(runtime: Runtime) -> None:
    expected = SessionTokens(b"0123456789abcdef0123456789abcdef")
    assert runtime.tokens.issue("s") == expected.issue("s")
