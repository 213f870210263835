"""Lambda entry point of the chatbot engine, invoked asynchronously by the websocket handler.

The engine (Strands, the model client, the tables) is built on the first event, so importing
this module stays as light as the websocket handler's; the MCP SDK and opensearch-py load
later still, on the first tools question and the first document search.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from chatbot.config import load_settings
from chatbot.ports import EngineRequest
from chatbot.redaction import RedactingFormatter

if TYPE_CHECKING:
    from chatbot.engine.engine import ChatbotEngine

logger = Logger(service="chatbot", logger_formatter=RedactingFormatter())


# Seconds kept back from the Lambda timeout: enough to store the failure and tell the client.
SAFETY_MARGIN_SECONDS = 5.0


def handle_event(
    event: dict[str, Any], engine: ChatbotEngine, seconds_left: float | None = None
) -> dict[str, Any]:
    """Answer the message the event names; the local gateway calls this in a worker thread.

    ``seconds_left`` is the time the invocation has (Lambda says; None locally): model retries
    stop early enough to report the failure within it.
    """
    request = EngineRequest.model_validate(event)
    deadline = None
    if seconds_left is not None:
        deadline = engine.clock.monotonic() + seconds_left - SAFETY_MARGIN_SECONDS
    logger.thread_safe_append_keys(sessionId=request.sessionId, messageId=request.messageId)
    try:
        answer = asyncio.run(engine.process_message(request, deadline=deadline))
    finally:
        logger.thread_safe_clear_keys()
    return {"answered": answer is not None}


@lru_cache(maxsize=1)
def _aws_engine() -> ChatbotEngine:
    from chatbot.adapters.aws.connections import ApiGatewayConnectionSender
    from chatbot.engine.factory import build_engine
    from chatbot.runtime import runtime_from_settings

    settings = load_settings()
    if not settings.websocket_api_endpoint:
        raise ValueError("WEBSOCKET_API_ENDPOINT must be set in AWS")
    return build_engine(
        runtime_from_settings(settings), ApiGatewayConnectionSender(settings.websocket_api_endpoint)
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_event(
        event, _aws_engine(), seconds_left=context.get_remaining_time_in_millis() / 1000
    )
