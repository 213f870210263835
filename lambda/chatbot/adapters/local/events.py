"""API Gateway WebSocket events, built the way API Gateway builds them, for the local gateway."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chatbot.protocol import ACTIONS, nested_too_deep

STAGE = "local"
API_ID = "local"


def new_connection_id() -> str:
    # API Gateway's ids are 12 base64 characters ending in '='; ours look alike.
    return base64.b64encode(secrets.token_bytes(9)).decode()[:11] + "="


def select_route(body: str | bytes) -> str:
    """API Gateway's ``$request.body.action`` selection: a known action, else $default.

    A frame nested too deep goes to $default unparsed, where the handler refuses it."""
    raw = body.encode() if isinstance(body, str) else body
    if nested_too_deep(raw):
        return "$default"
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "$default"
    action = data.get("action") if isinstance(data, dict) else None
    return action if isinstance(action, str) and action in ACTIONS else "$default"


def _request_context(
    connection_id: str,
    route_key: str,
    event_type: str,
    *,
    domain_name: str,
    connected_at_ms: int,
    request_time_ms: int,
    source_ip: str,
    user_agent: str | None,
) -> dict[str, Any]:
    now = request_time_ms / 1000
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": uuid.uuid4().hex,
        "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": connected_at_ms,
        "requestTimeEpoch": request_time_ms,
        "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        "requestId": uuid.uuid4().hex,
        "domainName": domain_name,
        "connectionId": connection_id,
        "apiId": API_ID,
    }


def connect_event(
    connection_id: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    domain_name: str,
    source_ip: str,
    connected_at_ms: int,
    request_time_ms: int,
) -> dict[str, Any]:
    return {
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "requestContext": _request_context(
            connection_id,
            "$connect",
            "CONNECT",
            domain_name=domain_name,
            connected_at_ms=connected_at_ms,
            request_time_ms=request_time_ms,
            source_ip=source_ip,
            user_agent=headers.get("User-Agent"),
        ),
        "isBase64Encoded": False,
    }


def message_event(
    connection_id: str,
    body: str | bytes,
    *,
    domain_name: str,
    source_ip: str,
    connected_at_ms: int,
    request_time_ms: int,
) -> dict[str, Any]:
    context = _request_context(
        connection_id,
        select_route(body),
        "MESSAGE",
        domain_name=domain_name,
        connected_at_ms=connected_at_ms,
        request_time_ms=request_time_ms,
        source_ip=source_ip,
        user_agent=None,
    )
    context["messageId"] = uuid.uuid4().hex[:16]
    if isinstance(body, bytes):
        # API Gateway hands binary frames to Lambda base64-encoded.
        return {
            "requestContext": context,
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(
    connection_id: str,
    *,
    domain_name: str,
    source_ip: str,
    connected_at_ms: int,
    request_time_ms: int,
    status_code: int,
    reason: str,
) -> dict[str, Any]:
    context = _request_context(
        connection_id,
        "$disconnect",
        "DISCONNECT",
        domain_name=domain_name,
        connected_at_ms=connected_at_ms,
        request_time_ms=request_time_ms,
        source_ip=source_ip,
        user_agent=None,
    )
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": {},
        "multiValueHeaders": {},
        "requestContext": context,
        "isBase64Encoded": False,
    }
