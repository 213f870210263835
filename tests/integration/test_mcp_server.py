"""The MCP server through real MCP client sessions: in-memory, stdio (`chatbot mcp`), Lambda."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import McpError

from chatbot.config import Settings
from chatbot.handlers import mcp as mcp_handler
from chatbot.mcp_server import OWNER_META_KEY, owner_claims, server_from_settings
from chatbot.mcp_transports import handle_message, lambda_transport
from chatbot.tools.catalog import ToolCatalog
from tests.conftest import FakeClock
from tests.integration.mcp_harness import error_code, memory_session

TOOLS = {
    "search_documents",
    "create_record",
    "read_record",
    "update_record",
    "delete_record",
    "list_records",
}

# One clock for the servers and the claims of this module: a claim is checked against it.
CLOCK = FakeClock()


def owner(settings: Settings, name: str) -> dict[str, Any]:
    """The _meta of a call for ``name``, signed as the engine signs it."""
    return owner_claims(settings, CLOCK).meta(name)


async def test_tools_are_listed_with_the_catalogs_schemas(settings: Settings) -> None:
    catalog = ToolCatalog.load()
    async with memory_session(settings, CLOCK) as client:
        listed = {tool.name: tool for tool in (await client.session.list_tools()).tools}
    assert set(listed) == TOOLS
    for definition in catalog.definitions:
        assert listed[definition.name].inputSchema == definition.input_schema
        assert listed[definition.name].description == definition.description


async def test_a_record_goes_through_create_read_update_and_delete(settings: Settings) -> None:
    async with memory_session(settings, CLOCK) as client:
        created = await client.call("create_record", {"data": {"title": "Groceries"}}, "alice")
        assert not created.isError
        record_id = created.structuredContent["record_id"]
        read = await client.call("read_record", {"record_id": record_id}, "alice")
        assert read.structuredContent["data"]["title"] == "Groceries"
        updated = await client.call(
            "update_record", {"record_id": record_id, "data": {"done": True}}, "alice"
        )
        assert updated.structuredContent["data"]["done"] is True
        assert updated.structuredContent["data"]["title"] == "Groceries"
        deleted = await client.call("delete_record", {"record_id": record_id}, "alice")
        assert deleted.structuredContent["success"] is True
        gone = await client.call("read_record", {"record_id": record_id}, "alice")
    assert error_code(gone) == "NOT_FOUND"


async def test_the_owner_comes_from_the_calling_session_not_the_arguments(
    settings: Settings,
) -> None:
    async with memory_session(settings, CLOCK) as client:
        created = await client.call("create_record", {"data": {"secret": "alice's"}}, "alice")
        record_id = created.structuredContent["record_id"]
        stolen = await client.call("read_record", {"record_id": record_id}, "mallory")
        smuggled = await client.call(
            "read_record", {"record_id": record_id, "owner": "alice"}, "mallory"
        )
        listed = await client.call("list_records", {}, "mallory")
    assert error_code(stolen) == "NOT_FOUND"
    assert error_code(smuggled) == "INVALID_INPUT"
    assert listed.structuredContent["records"] == []


async def test_a_call_without_an_owner_claim_is_refused_unless_the_server_has_a_fixed_owner(
    settings: Settings,
) -> None:
    async with memory_session(settings, CLOCK) as client:
        refused = await client.session.call_tool("list_records", {})
    assert error_code(refused) == "OWNER_INVALID"
    async with memory_session(settings, CLOCK, fixed_owner="cli") as client:
        allowed = await client.session.call_tool("list_records", {})
    assert not allowed.isError


@pytest.mark.parametrize(
    ("tool", "arguments", "code"),
    [
        ("search_documents", {"query": "x", "limit": 21}, "INVALID_INPUT"),
        ("search_documents", {"query": "   "}, "INVALID_INPUT"),
        ("create_record", {"table": "sessions", "data": {"a": 1}}, "TABLE_NOT_ALLOWED"),
        ("create_record", {"table": "nope", "data": {"a": 1}}, "UNKNOWN_TABLE"),
        ("create_record", {"data": ["not", "an", "object"]}, "INVALID_INPUT"),
        ("teleport", {}, "UNKNOWN_TOOL"),
    ],
)
async def test_refusals_are_clean_tool_errors(
    settings: Settings, tool: str, arguments: dict[str, Any], code: str
) -> None:
    async with memory_session(settings, CLOCK) as client:
        result = await client.call(tool, arguments, "alice")
        assert error_code(result) == code
        # The session goes on after a refusal.
        assert not (await client.call("list_records", {}, "alice")).isError


async def test_chatbot_mcp_speaks_mcp_over_stdio(tmp_path: Path) -> None:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "chatbot.cli", "mcp", "--owner", "person"],
        env={**os.environ, "CHATBOT_STATE_DIR": str(tmp_path / "state")},
    )
    with anyio.fail_after(60):
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            info = await session.initialize()
            assert info.serverInfo.name == "chatbot-tools"
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
            created = await session.call_tool("create_record", {"data": {"title": "via stdio"}})
            record_id = created.structuredContent["record_id"]
            read = await session.call_tool("read_record", {"record_id": record_id})
    assert read.structuredContent["data"]["title"] == "via stdio"


async def test_the_lambda_transport_carries_a_whole_session_one_message_per_invocation(
    settings: Settings,
) -> None:
    server = server_from_settings(settings, clock=CLOCK)
    invocations: list[dict[str, Any]] = []

    def invoke(payload: bytes) -> bytes:
        # What Lambda does: the function gets the payload as its event, returns JSON.
        event = json.loads(payload)
        invocations.append(event)
        reply = anyio.from_thread.run(handle_message, server, event)
        return json.dumps(reply).encode()

    async with lambda_transport(invoke) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        meta = owner(settings, "alice")
        created = await session.call_tool("create_record", {"data": {"n": 1}}, meta=meta)
        listed = await session.call_tool("list_records", {}, meta=meta)
    assert not created.isError
    assert [r["id"] for r in listed.structuredContent["records"]] == [
        created.structuredContent["record_id"]
    ]
    methods = [event["method"] for event in invocations]
    assert methods[:2] == ["initialize", "notifications/initialized"]
    assert methods.count("tools/call") == 2
    assert invocations[-1]["params"]["_meta"][OWNER_META_KEY] == "alice"
    assert invocations[-1]["params"]["_meta"]["chatbot/owner-claim"].startswith("v1.")


async def test_an_unreachable_mcp_function_fails_the_call_fast(settings: Settings) -> None:
    def invoke(payload: bytes) -> bytes:
        raise ConnectionError("no route to Lambda")

    with anyio.fail_after(10):
        async with lambda_transport(invoke) as (read, write), ClientSession(read, write) as session:
            with pytest.raises(McpError, match="unreachable"):
                await session.initialize()


def test_the_lambda_handler_answers_a_json_rpc_request(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_STATE_DIR", str(settings.state_dir))
    mcp_handler._server.cache_clear()
    monkeypatch.setattr(mcp_handler, "load_settings", lambda: settings)
    request = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}
    reply = mcp_handler.handle_message_sync(request)
    assert reply is not None and reply["id"] == 7
    assert {tool["name"] for tool in reply["result"]["tools"]} == TOOLS
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert mcp_handler.handle_message_sync(notification) is None
