"""The engine's MCP clients: one per answer, bound to the asking session by a signed owner
claim, over the configured transport (stdio subprocess, in-process, or the MCP server Lambda).

The MCP SDK, Strands' MCP client and the MCP server are imported on the first tools question,
not when the engine is built: most answers need none of them, and they cost a cold start
about 0.4 s of imports (bench/results/cold_start.md).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Final

from chatbot.clock import Clock
from chatbot.config import Settings
from chatbot.records import QueryType

if TYPE_CHECKING:
    from chatbot.tools.owner_claim import OwnerClaims

TransportFactory = Callable[[], AbstractAsyncContextManager[Any]]
ToolsFor = Callable[[QueryType, str], list[Any]]
TRANSPORTS: Final = ("stdio", "memory", "lambda")
UNKNOWN_TRANSPORT: Final = "MCP_TRANSPORT must be stdio, memory or lambda, not {!r}"
NO_LAMBDA_ARN: Final = "MCP_TRANSPORT=lambda needs MCP_SERVER_LAMBDA_ARN"


def check_transport(settings: Settings) -> None:
    """Refuses a transport setting that could never work, before any tools question comes."""
    transport = settings.mcp_transport
    if transport not in TRANSPORTS:
        raise ValueError(UNKNOWN_TRANSPORT.format(transport))
    if transport == "lambda" and not settings.mcp_server_lambda_arn:
        raise ValueError(NO_LAMBDA_ARN)


def transport_factory(settings: Settings, clock: Clock) -> TransportFactory:
    transport = settings.mcp_transport
    if transport == "lambda":
        from chatbot.mcp_transports import boto3_invoke, lambda_transport

        if not settings.mcp_server_lambda_arn:
            raise ValueError(NO_LAMBDA_ARN)
        invoke = boto3_invoke(settings.mcp_server_lambda_arn, settings.aws_region)
        return lambda: lambda_transport(invoke)
    if transport == "memory":
        from chatbot.mcp_server import server_from_settings
        from chatbot.mcp_transports import memory_transport

        server = server_from_settings(settings, clock=clock)
        return lambda: memory_transport(server)
    if transport == "stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client

        parameters = StdioServerParameters(
            command=sys.executable,
            args=["-m", "chatbot.cli", "mcp"],
            # The server must find the same state folder, whatever the working directory.
            env={**os.environ, "CHATBOT_STATE_DIR": str(settings.state_dir.resolve())},
        )
        return lambda: stdio_client(parameters)
    raise ValueError(UNKNOWN_TRANSPORT.format(transport))


def mcp_tools(settings: Settings, clock: Clock) -> ToolsFor:
    """Tools for a question: the MCP server's, on the tools path only."""
    check_transport(settings)
    return _McpTools(settings, clock)


class _McpTools:
    """``ToolsFor`` that builds the transport and the owner claims on the first tools question."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._built: tuple[TransportFactory, OwnerClaims] | None = None
        self._building = threading.Lock()

    def __call__(self, query_type: QueryType, session_id: str) -> list[Any]:
        if query_type is not QueryType.MCP_TOOL:
            return []
        from strands.tools.mcp import MCPClient

        factory, claims = self._transport_and_claims()
        # The owner travels in _meta on every call, where the model cannot write it, with a
        # claim signed for this answer: the server acts for no owner without one.
        return [MCPClient(factory, startup_timeout=30, meta=claims.meta(session_id))]

    def _transport_and_claims(self) -> tuple[TransportFactory, OwnerClaims]:
        with self._building:
            if self._built is None:
                from chatbot.mcp_server import owner_claims

                self._built = (
                    transport_factory(self._settings, self._clock),
                    owner_claims(self._settings, self._clock),
                )
            return self._built
