"""The local gateway's events have API Gateway's shapes (Powertools' models agree)."""

from __future__ import annotations

import base64
import json

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from chatbot.adapters.local import events

COMMON = {
    "domain_name": "localhost:8080",
    "source_ip": "127.0.0.1",
    "connected_at_ms": 1_700_000_000_000,
    "request_time_ms": 1_700_000_000_500,
}


def test_connect_event_matches_api_gateways_shape() -> None:
    event = events.connect_event(
        "abc=",
        query={"sessionId": "s", "sessionToken": "t"},
        headers={"User-Agent": "ua"},
        **COMMON,
    )
    model = APIGatewayWebSocketConnectEventModel.model_validate(event)
    assert model.request_context.route_key == "$connect"
    assert event["queryStringParameters"] == {"sessionId": "s", "sessionToken": "t"}


def test_a_connect_without_query_has_no_query_parameters_like_api_gateway() -> None:
    event = events.connect_event("abc=", query={}, headers={}, **COMMON)
    assert event["queryStringParameters"] is None


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "sendMessage"}', "sendMessage"),
        ('{"action": "getHistory"}', "getHistory"),
        ('{"action": "dance"}', "$default"),
        ('{"no": "action"}', "$default"),
        ("not json", "$default"),
        ("[1]", "$default"),
    ],
)
def test_message_events_select_routes_by_the_body_action(body: str, route: str) -> None:
    event = events.message_event("abc=", body, **COMMON)
    model = APIGatewayWebSocketMessageEventModel.model_validate(event)
    assert model.request_context.route_key == route
    assert event["body"] == body and event["isBase64Encoded"] is False


def test_binary_frames_arrive_base64_encoded() -> None:
    event = events.message_event("abc=", b'{"action":"ping"}', **COMMON)
    assert event["isBase64Encoded"] is True
    assert json.loads(base64.b64decode(event["body"])) == {"action": "ping"}


def test_disconnect_event_matches_api_gateways_shape() -> None:
    event = events.disconnect_event("abc=", status_code=1001, reason="going away", **COMMON)
    model = APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    assert model.request_context.disconnect_status_code == 1001


def test_connection_ids_look_like_api_gateways_and_do_not_repeat() -> None:
    ids = {events.new_connection_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 12 and i.endswith("=") for i in ids)
