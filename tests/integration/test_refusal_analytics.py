"""Refusals in analytics, on moto: refused handshakes (403 Origin, 429 session flood), rate
limited frames and QUOTA_EXCEEDED answers are counted in `chatbot analytics summary`, and the
events they leave hold no address and nothing the client sent."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date

import boto3
import pytest
from moto import mock_aws

from chatbot.adapters.aws.tables import create_table
from chatbot.analytics_cli import main
from chatbot.analytics_report import DateRange, read_events
from chatbot.chat_service import ChatService
from chatbot.config import Settings
from chatbot.engine.factory import build_engine
from chatbot.handlers import engine as engine_handler
from chatbot.handlers import websocket as websocket_handler
from chatbot.records import Usage
from chatbot.runtime import build_chat_service, runtime_from_settings
from chatbot.tables import ALL_TABLES
from tests.conftest import FakeClock
from tests.integration.test_aws_handlers import ENVIRONMENT, api_gateway_event
from tests.unit.conftest import RecordingInvoker, RecordingSender

PAGE = "https://chat.example.com"
FLOODER = "203.0.113.77"
MARKER = "evil-marker-5d1f"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in {
        **ENVIRONMENT,
        "LIMITS_TABLE": "test-limits",
        "ALLOWED_ORIGINS": PAGE,
        "SESSIONS_PER_IP_PER_MINUTE": "2",
        "MESSAGES_PER_IP_PER_MINUTE": "3",
        "SESSION_TOKENS_PER_DAY": "100",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="chatbot-session-key", SecretString="0123456789abcdef0123456789abcdef"
        )
        monkeypatch.setenv("SESSION_SECRET_ARN", secret["ARN"])
        settings = Settings()
        client = boto3.client("dynamodb")
        for spec in ALL_TABLES:
            create_table(client, spec, settings.table_names[spec.name])
        yield settings


def connect(service: ChatService, connection_id: str, ip: str, **headers: str) -> int:
    event = api_gateway_event("$connect", connection_id, headers=headers)
    event["requestContext"]["identity"] = {"sourceIp": ip}
    result = websocket_handler.handle_event(event, service)
    return int(result["statusCode"])


def test_refused_handshakes_rate_limits_and_spent_budgets_are_counted_in_the_summary(
    settings: Settings, clock: FakeClock
) -> None:
    runtime = runtime_from_settings(settings, clock)
    sender, invoker = RecordingSender(), RecordingInvoker()
    service = build_chat_service(runtime, sender, invoker)

    # Three pages of another site: 403, and no session.
    statuses = [
        connect(service, f"x{n}", "198.51.100.9", Origin=f"https://{MARKER}.example")
        for n in range(3)
    ]
    # One address opening five sessions in a minute: two made, three refused with 429.
    statuses += [connect(service, f"f{n}", FLOODER, Origin=PAGE) for n in range(5)]
    assert statuses == [403] * 3 + [200] * 2 + [429] * 3

    # Four messages from the flooder's address in a minute: the fourth is RATE_LIMITED.
    session_id = runtime.tables.connections.get({"connectionId": "f0"})
    assert session_id is not None
    for n in range(4):
        body = json.dumps({"action": "sendMessage", "messageId": f"m{n}", "content": "Hi there"})
        event = api_gateway_event("sendMessage", "f0", body=body)
        event["requestContext"]["identity"] = {"sourceIp": FLOODER}
        websocket_handler.handle_event(event, service)
    assert json.loads(sender.posted[-1][1])["code"] == "RATE_LIMITED"

    # The session's budget is spent: its acked messages are QUOTA_EXCEEDED, no answer made.
    runtime.budget.charge(session_id["sessionId"], "earlier", Usage(inputTokens=100))
    engine = build_engine(runtime, sender)
    for request in invoker.requests:
        assert engine_handler.handle_event(request.model_dump(), engine) == {"answered": False}
    assert json.loads(sender.posted[-1][1])["code"] == "QUOTA_EXCEEDED"

    out = io.StringIO()
    assert (
        main(
            ["summary", "--days", "1", "--format", "json"],
            settings=settings,
            clock=clock,
            stdout=out,
        )
        == 0
    )
    *_, total = json.loads(out.getvalue())
    assert total["refusedHandshakes"] == {"403 origin": 3, "429 new_sessions": 3}
    assert total["errors"] == {"RATE_LIMITED": 1, "QUOTA_EXCEEDED": 3}
    assert total["sessionsCreated"] == 2
    # The two sessions made, not the handshake shards, are the day's active sessions.
    assert total["activeSessions"] == 2

    table = io.StringIO()
    assert main(["summary", "--days", "1"], settings=settings, clock=clock, stdout=table) == 0
    assert "Refused handshakes" in table.getvalue() and "403 origin" in table.getvalue()

    day = clock.now().date()
    stored = json.dumps(list(read_events(runtime.tables.analytics, DateRange(day, day))))
    for secret in (MARKER, FLOODER, "198.51.100.9", "Hi there"):
        assert secret not in stored


def test_a_flood_of_refused_handshakes_adds_a_bounded_number_of_rows(
    settings: Settings, clock: FakeClock
) -> None:
    runtime = runtime_from_settings(settings, clock)
    service = build_chat_service(runtime, RecordingSender(), RecordingInvoker())
    for n in range(200):
        assert connect(service, f"x{n}", f"198.51.100.{n}", Origin="https://other") == 403
    today = clock.now().date()
    events = list(read_events(runtime.tables.analytics, DateRange(today, today)))
    assert 1 <= len(events) <= 8
    assert sum(int(event["count"]) for event in events) == 200
    assert date.fromisoformat(events[0]["date"]) == today
