"""The engine's MCP clients: one per answer, bound to the asking session by a signed owner
claim, over the configured transport (stdio subprocess, in-process, or the MCP server Lambda)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from mcp.client.stdio import StdioServerParameters, stdio_client
from strands.tools.mcp import MCPClient

from chatbot.clock import Clock
from chatbot.config import Settings
from chatbot.mcp_server import owner_claims, server_from_settings
from chatbot.mcp_transports import boto3_invoke, lambda_transport, memory_transport
from chatbot.records import QueryType

TransportFactory = Callable[[], AbstractAsyncContextManager[Any]]
ToolsFor = Callable[[QueryType, str], list[Any]]


def transport_factory(settings: Settings, clock: Clock) -> TransportFactory:
    transport = settings.mcp_transport
    if transport == "lambda":
        if not settings.mcp_server_lambda_arn:
            raise ValueError("MCP_TRANSPORT=lambda needs MCP_SERVER_LAMBDA_ARN")
        invoke = boto3_invoke(settings.mcp_server_lambda_arn, settings.aws_region)
        return lambda: lambda_transport(invoke)
    if transport == "memory":
        server = server_from_settings(settings, clock=clock)
        return lambda: memory_transport(server)
    if transport == "stdio":
        parameters = StdioServerParameters(
            command=sys.executable,
            args=["-m", "chatbot.cli", "mcp"],
            # The server must find the same state folder, whatever the working directory.
            env={**os.environ, "CHATBOT_STATE_DIR": str(settings.state_dir.resolve())},
        )
        return lambda: stdio_client(parameters)
    raise ValueError(f"MCP_TRANSPORT must be stdio, memory or lambda, not {transport!r}")


def mcp_tools(settings: Settings, clock: Clock) -> ToolsFor:
    """Tools for a question: the MCP server's, on the tools path only."""
    factory = transport_factory(settings, clock)
    claims = owner_claims(settings, clock)

    def tools_for(query_type: QueryType, session_id: str) -> list[Any]:
        if query_type is not QueryType.MCP_TOOL:
            return []
        # The owner travels in _meta on every call, where the model cannot write it, with a
        # claim signed for this answer: the server acts for no owner without one.
        return [MCPClient(factory, startup_timeout=30, meta=claims.meta(session_id))]

    return tools_for
