"""The MCP server: the tools of schemas/mcp_tools.yaml over the MCP protocol (mcp SDK).

The calling session (the owner of the records a call may touch) comes from the request's
``_meta`` under ``chatbot/owner``, set by the engine, never from tool arguments the model
wrote. Over stdio a person may start the server with a fixed owner instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import mcp.types as types
from aws_lambda_powertools import Logger
from mcp.server.lowlevel import Server

from chatbot.adapters.store import table_store
from chatbot.clock import Clock
from chatbot.config import Settings
from chatbot.document_search import document_search
from chatbot.tables import RECORDS
from chatbot.tools.catalog import ToolCatalog
from chatbot.tools.errors import ToolError
from chatbot.tools.executor import ToolExecutor

logger = Logger(service="chatbot", child=True)

OWNER_META_KEY = "chatbot/owner"
SERVER_NAME = "chatbot-tools"


def _server_version() -> str:
    try:
        return version("chatbot")
    except PackageNotFoundError:  # a Lambda package carries no distribution metadata
        return "0"


def owner_from_meta(meta: types.RequestParams.Meta | None) -> str | None:
    extra = (meta.model_extra or {}) if meta is not None else {}
    owner = extra.get(OWNER_META_KEY)
    return owner if isinstance(owner, str) and 0 < len(owner) <= 128 else None


def build_server(
    catalog: ToolCatalog,
    executor: ToolExecutor,
    *,
    default_owner: str | None = None,
    on_call: Callable[[str, bool, float], None] | None = None,
) -> Server[Any, Any]:
    """An MCP server whose tools are the catalog's, executed by ``executor``.

    ``default_owner`` serves callers that send no owner (a person with an MCP client over
    stdio); without it such calls are refused.
    """
    server: Server[Any, Any] = Server(
        SERVER_NAME,
        version=_server_version(),
        instructions=(
            "Search the user's documents and manage the records of the current chat "
            "session. Records of other sessions are never visible."
        ),
    )
    tools = [
        types.Tool(
            name=definition.name,
            description=definition.description,
            inputSchema=definition.input_schema,
            outputSchema=definition.output_schema,
        )
        for definition in catalog.definitions
    ]

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        return tools

    # Our executor validates every call against the OpenAPI schema (jsonschema) itself, with
    # messages that name the field; the SDK's own check would run the same schema twice.
    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        started = time.perf_counter()
        owner = owner_from_meta(server.request_context.meta) or default_owner
        try:
            if owner is None:
                raise ToolError("FORBIDDEN", "This call carries no session; nothing can be done.")
            result = await anyio.to_thread.run_sync(
                lambda: executor.call(name, arguments, owner=owner)
            )
        except ToolError as error:
            outcome = error.as_result()
            success = False
        except Exception:
            # Never show a client internals: log them, answer with a stable code.
            logger.exception("tool call failed", extra={"tool": name[:64]})
            outcome = ToolError("INTERNAL", "The tool failed unexpectedly.").as_result()
            success = False
        else:
            outcome = result
            success = True
        if on_call is not None:
            on_call(name, success, time.perf_counter() - started)
        # An error's JSON goes in the text only: structuredContent must match the tool's
        # output schema, and some clients (the MCP Inspector) check it even on errors.
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(outcome))],
            structuredContent=outcome if success else None,
            isError=not success,
        )

    return server


def server_from_settings(
    settings: Settings,
    *,
    clock: Clock,
    default_owner: str | None = None,
    on_call: Callable[[str, bool, float], None] | None = None,
) -> Server[Any, Any]:
    """The server on the adapters configuration selects: DynamoDB in AWS, SQLite locally."""
    catalog = ToolCatalog.load()
    documents = document_search(settings, clock)
    records = table_store(settings, clock).table(RECORDS)
    executor = ToolExecutor(catalog, records, documents, clock=clock)
    return build_server(catalog, executor, default_owner=default_owner, on_call=on_call)
