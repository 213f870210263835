"""Lambda entry point of the scheduled session cleanup (EventBridge)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from chatbot.config import load_settings
from chatbot.ports import ConnectionSender
from chatbot.sessions import SessionManager

logger = Logger(service="chatbot")


def handle_event(sessions: SessionManager, sender: ConnectionSender) -> dict[str, Any]:
    closed = sessions.cleanup_inactive_sessions(sender)
    logger.info("session cleanup finished", extra={"closed": closed})
    return {"closed": closed}


@lru_cache(maxsize=1)
def _aws_collaborators() -> tuple[SessionManager, ConnectionSender]:
    from chatbot.adapters.aws.connections import ApiGatewayConnectionSender
    from chatbot.runtime import runtime_from_settings

    settings = load_settings()
    if not settings.websocket_api_endpoint:
        raise ValueError("WEBSOCKET_API_ENDPOINT must be set in AWS")
    runtime = runtime_from_settings(settings)
    return runtime.sessions, ApiGatewayConnectionSender(settings.websocket_api_endpoint)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sessions, sender = _aws_collaborators()
    return handle_event(sessions, sender)
