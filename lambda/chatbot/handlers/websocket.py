"""Lambda entry point for every route of the WebSocket API ($connect, $disconnect, actions)."""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from chatbot.chat_service import ChatService
from chatbot.config import load_settings
from chatbot.limits import ConnectRequest
from chatbot.redaction import RedactingFormatter

logger = Logger(service="chatbot", logger_formatter=RedactingFormatter())


def handle_event(event: dict[str, Any], service: ChatService) -> dict[str, Any]:
    """Route one API Gateway WebSocket event to the chat service (the local gateway too)."""
    ws_event = APIGatewayWebSocketEvent(event)
    context = ws_event.request_context
    connection_id = context.connection_id
    logger.thread_safe_append_keys(connectionId=connection_id, route=context.route_key)
    try:
        return _route(ws_event, service)
    finally:
        logger.thread_safe_clear_keys()


def _route(ws_event: APIGatewayWebSocketEvent, service: ChatService) -> dict[str, Any]:
    context = ws_event.request_context
    connection_id = context.connection_id
    if context.event_type == "CONNECT":
        headers = {name.lower(): value for name, value in (ws_event.headers or {}).items()}
        result = service.connect(
            connection_id,
            ws_event.query_string_parameters or {},
            user_agent=headers.get("user-agent"),
            request=ConnectRequest(
                source_ip=_source_ip(ws_event),
                origin=headers.get("origin"),
                host=headers.get("host"),
                user_sub=_user_sub(ws_event),
            ),
        )
        return {"statusCode": result.status_code}
    if context.event_type == "DISCONNECT":
        service.disconnect(connection_id)
        return {"statusCode": 200}
    body: str | bytes | None = ws_event.body
    if ws_event.is_base64_encoded and body:
        # A binary frame: let the protocol parser decide whether it is UTF-8 JSON.
        body = base64.b64decode(body)
    service.handle_frame(connection_id, body, source_ip=_source_ip(ws_event))
    return {"statusCode": 200}


def _source_ip(ws_event: APIGatewayWebSocketEvent) -> str | None:
    identity = ws_event.raw_event.get("requestContext", {}).get("identity") or {}
    source_ip = identity.get("sourceIp")
    return source_ip if isinstance(source_ip, str) and source_ip else None


def _user_sub(ws_event: APIGatewayWebSocketEvent) -> str | None:
    """The signed-in user's ``sub``, from the context the $connect authorizer returned."""
    authorizer = ws_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    sub = authorizer.get("sub") if isinstance(authorizer, dict) else None
    return sub if isinstance(sub, str) and sub else None


@lru_cache(maxsize=1)
def _aws_service() -> ChatService:
    from chatbot.adapters.aws.connections import ApiGatewayConnectionSender
    from chatbot.adapters.aws.engine_invoker import LambdaEngineInvoker
    from chatbot.runtime import build_chat_service, runtime_from_settings

    settings = load_settings()
    if not settings.websocket_api_endpoint or not settings.engine_function_name:
        raise ValueError("WEBSOCKET_API_ENDPOINT and ENGINE_FUNCTION_NAME must be set in AWS")
    return build_chat_service(
        runtime_from_settings(settings),
        ApiGatewayConnectionSender(settings.websocket_api_endpoint),
        LambdaEngineInvoker(settings.engine_function_name),
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_event(event, _aws_service())
