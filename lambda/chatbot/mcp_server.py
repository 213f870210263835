"""The MCP server: the tools of schemas/mcp_tools.yaml over the MCP protocol (mcp SDK).

The calling session (the owner of the records a call may touch) is never taken from tool
arguments the model wrote. It comes from the request's ``_meta``: ``chatbot/owner`` with the
engine's signed claim ``chatbot/owner-claim``, verified on every call (chatbot.tools.
owner_claim). A server a person starts over stdio with ``--owner`` acts as that owner only.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import mcp.types as types
from aws_lambda_powertools import Logger
from mcp.server.lowlevel import Server

from chatbot.adapters.store import table_store
from chatbot.clock import Clock
from chatbot.config import Environment, Settings
from chatbot.document_search import document_search
from chatbot.mcp_transports import RefusedOnArrival
from chatbot.tables import RECORDS
from chatbot.tokens import load_or_create_local_secret
from chatbot.tools.catalog import ToolCatalog
from chatbot.tools.errors import ToolError
from chatbot.tools.executor import ToolExecutor
from chatbot.tools.owner_claim import (
    MAX_LIFETIME,
    OWNER_META_KEY,
    ClaimedOwner,
    FixedOwner,
    OwnerClaims,
    OwnerPolicy,
    OwnerRefused,
    owner_refusal,
)

logger = Logger(service="chatbot", child=True)

__all__ = ["OWNER_META_KEY", "build_server", "owner_claims", "server_from_settings"]

SERVER_NAME = "chatbot-tools"


def _server_version() -> str:
    try:
        return version("chatbot")
    except PackageNotFoundError:  # a Lambda package carries no distribution metadata
        return "0"


def build_server(
    catalog: ToolCatalog,
    executor: ToolExecutor,
    *,
    owners: OwnerPolicy,
    on_call: Callable[[str, bool, float], None] | None = None,
) -> Server[Any, Any]:
    """An MCP server whose tools are the catalog's, executed by ``executor``, each call for
    the owner ``owners`` finds in its ``_meta`` (a call it refuses does nothing)."""
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
        context = server.request_context
        meta = (context.meta.model_extra or {}) if context.meta is not None else {}
        try:
            owner = _owner(owners, meta, name)
            if isinstance(context.request, RefusedOnArrival):
                raise context.request.error
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


def _owner(owners: OwnerPolicy, meta: dict[str, Any], tool: str) -> str:
    try:
        return owners.owner_of(meta)
    except OwnerRefused as refused:
        # The reason only: never the owner or the claim that was sent.
        logger.warning(
            "tool call refused: owner not verified",
            extra={"tool": tool[:64], "reason": refused.reason},
        )
        raise owner_refusal() from None


def server_from_settings(
    settings: Settings,
    *,
    clock: Clock,
    fixed_owner: str | None = None,
    on_call: Callable[[str, bool, float], None] | None = None,
) -> Server[Any, Any]:
    """The server on the adapters configuration selects: DynamoDB in AWS, SQLite locally.

    With ``fixed_owner`` every call acts for it alone (``chatbot mcp --owner``); otherwise
    every call needs a current owner claim signed with the tools key."""
    catalog = ToolCatalog.load()
    documents = document_search(settings, clock)
    records = table_store(settings, clock).table(RECORDS)
    executor = ToolExecutor(catalog, records, documents, clock=clock)
    owners: OwnerPolicy = (
        FixedOwner(fixed_owner)
        if fixed_owner is not None
        else ClaimedOwner(owner_claims(settings, clock))
    )
    return build_server(catalog, executor, owners=owners, on_call=on_call)


def owner_claims(settings: Settings, clock: Clock) -> OwnerClaims:
    """The claims the engine issues and the MCP server verifies, under the tools key.

    A claim lives one answer's time (ANSWER_TIMEOUT_SECONDS, at most an hour)."""
    lifetime = min(timedelta(seconds=settings.answer_timeout_seconds), MAX_LIFETIME)
    return OwnerClaims(tools_key(settings), clock=clock, lifetime=lifetime)


def tools_key(settings: Settings) -> Callable[[], bytes]:
    """The owner-claim key: a Secrets Manager secret in AWS (TOOLS_SECRET_ARN), else a file in
    the state folder made on first use, mode 0600, that the stdio subprocess reads too.

    Its own key, not one derived from the session-token secret: the MCP server function then
    needs no access to that secret, which would let it mint session tokens."""
    if settings.chatbot_env is Environment.AWS:
        arn = settings.tools_secret_arn

        def from_secrets_manager() -> bytes:
            # Checked at the first tools call, not at start: the rest of a function that was
            # deployed without the secret still works.
            if not arn:
                raise ValueError("TOOLS_SECRET_ARN must name the owner-claim secret in AWS")
            from aws_lambda_powertools.utilities import parameters

            # Cached for five minutes per container, so a rotated key is picked up.
            secret = parameters.get_secret(arn, max_age=300)
            return secret.encode() if isinstance(secret, str) else bytes(secret)

        return from_secrets_manager
    path = settings.tools_key_path
    return functools.cache(lambda: load_or_create_local_secret(path))
