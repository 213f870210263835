"""Lambda entry point of the MCP server: one JSON-RPC message in, its reply (or nothing) out.

Every tools/call needs the engine's owner claim (the key: TOOLS_SECRET_ARN); a call without a
valid one is refused with OWNER_INVALID and touches nothing."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from mcp.server.lowlevel import Server

from chatbot.config import load_settings
from chatbot.mcp_transports import handle_message
from chatbot.redaction import RedactingFormatter

logger = Logger(service="chatbot", logger_formatter=RedactingFormatter())


@lru_cache(maxsize=1)
def _server() -> Server[Any, Any]:
    from chatbot.clock import SystemClock
    from chatbot.mcp_server import server_from_settings

    return server_from_settings(load_settings(), clock=SystemClock())


def handle_message_sync(event: dict[str, Any]) -> dict[str, Any] | None:
    """Answer one JSON-RPC message; None for a notification (Lambda returns null)."""
    return asyncio.run(handle_message(_server(), event))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    return handle_message_sync(event)
