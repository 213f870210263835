"""The MCP tests' harness: client sessions whose calls are signed as the engine signs them, raw
JSON-RPC exchanges (for what the SDK's client cannot send), and reading refusals."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import mcp.types as types
from mcp import ClientSession
from mcp.server.lowlevel import Server
from mcp.shared.message import SessionMessage

from chatbot.clock import Clock
from chatbot.config import Settings
from chatbot.mcp_server import owner_claims, server_from_settings
from chatbot.mcp_transports import memory_transport
from chatbot.tables import Item
from chatbot.tools.owner_claim import OwnerClaims


@dataclass
class SignedSession:
    """An MCP client session and the engine's claims (same key, same clock as the server)."""

    session: ClientSession
    claims: OwnerClaims

    async def call(self, tool: str, arguments: dict[str, Any], who: str) -> Any:
        """A call for ``who`` with a valid claim, as the engine makes it."""
        return await self.session.call_tool(tool, arguments, meta=self.claims.meta(who))


@asynccontextmanager
async def memory_session(
    settings: Settings, clock: Clock, **options: Any
) -> AsyncIterator[SignedSession]:
    server = server_from_settings(settings, clock=clock, **options)
    async with memory_transport(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield SignedSession(session, owner_claims(settings, clock))


def error_code(result: Any) -> str:
    """A refused call's error code: in the text content, with no structured content."""
    assert result.isError
    assert result.structuredContent is None
    return str(json.loads(result.content[0].text)["error"]["code"])


def error_of(result: Any) -> dict[str, str]:
    assert result.isError
    error: dict[str, str] = json.loads(result.content[0].text)["error"]
    return error


INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": types.LATEST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
)
INITIALIZED = '{"jsonrpc": "2.0", "method": "notifications/initialized"}'


def tools_call(tool: str, arguments: str, meta: dict[str, Any], request_id: int = 1) -> str:
    """A tools/call request as JSON text; ``arguments`` is JSON text too, sent as written."""
    return (
        f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", "params": '
        f'{{"name": {json.dumps(tool)}, "arguments": {arguments}, "_meta": {json.dumps(meta)}}}}}'
    )


async def raw_exchange(server: Server[Any, Any], requests: list[str]) -> list[types.CallToolResult]:
    """Initialize, then send each request as a transport parses it off the wire (the text
    through pydantic, as the SDK's stdio server reads a line); the replies' results."""
    results = []
    async with memory_transport(server) as (read, write):
        await write.send(SessionMessage(types.JSONRPCMessage.model_validate_json(INITIALIZE)))
        await read.receive()
        await write.send(SessionMessage(types.JSONRPCMessage.model_validate_json(INITIALIZED)))
        for request in requests:
            await write.send(SessionMessage(types.JSONRPCMessage.model_validate_json(request)))
            reply = await read.receive()
            assert isinstance(reply, SessionMessage), reply
            response = reply.message.root
            assert isinstance(response, types.JSONRPCResponse), response
            results.append(types.CallToolResult.model_validate(response.result))
    return results


def stored_records(settings: Settings) -> list[Item]:
    """Every record the local store holds, read around the port, in (owner, id) order."""
    if not settings.sqlite_path.exists():
        return []
    raw = sqlite3.connect(settings.sqlite_path)
    try:
        table = raw.execute("SELECT name FROM sqlite_master WHERE name = 't_records'").fetchone()
        if table is None:
            return []
        rows = raw.execute('SELECT body FROM "t_records" ORDER BY pk, sk').fetchall()
    finally:
        raw.close()
    return [json.loads(body) for (body,) in rows]
