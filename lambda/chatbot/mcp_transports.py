"""MCP transports beyond stdio: in-memory (local engine, tests) and Lambda invoke (AWS).

Over Lambda, each JSON-RPC message is one synchronous invocation: the client sends the
message as the payload and reads the response (or nothing, for a notification) from the
function's result. The server answers each message with a stateless session in-process,
so a tool call costs one invocation and no subprocess.

Every transport runs the server through ``serve``, which checks each tools call's numbers as
they arrive (see ``_checked_on_arrival``); ``chatbot mcp`` does too, over stdio.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp.types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from aws_lambda_powertools import Logger
from mcp.server.lowlevel import Server
from mcp.shared.memory import create_client_server_memory_streams
from mcp.shared.message import ServerMessageMetadata, SessionMessage

from chatbot.tools.catalog import check_finite_numbers
from chatbot.tools.errors import ToolError

logger = Logger(service="chatbot", child=True)

ClientStreams = tuple[
    MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]
]
# (payload bytes) -> response bytes; raises on a failed invocation.
Invoke = Callable[[bytes], bytes]


@dataclass(frozen=True)
class RefusedOnArrival:
    """A tools call refused as it arrived, before the SDK parsed it again: the server's
    handler finds it as its request context and answers with ``error``."""

    error: ToolError


def _checked_on_arrival(message: SessionMessage | Exception) -> SessionMessage | Exception:
    """``message``, carrying a RefusedOnArrival if it is a tools call with a non-finite number.

    The SDK re-serialises every request it receives as JSON, and pydantic writes 1e400, NaN
    and Infinity as null: the tool would see null and store it. So the numbers are checked
    here, on the values the transport parsed, and the refusal rides along out of band (the
    message's metadata, which no client can write).
    """
    if not isinstance(message, SessionMessage):
        return message
    request = message.message.root
    if not isinstance(request, types.JSONRPCRequest) or request.method != "tools/call":
        return message
    arguments = (request.params or {}).get("arguments")
    try:
        check_finite_numbers(arguments)
    except ToolError as error:
        # Our transports attach no metadata of their own, so none is lost here.
        return SessionMessage(
            message.message,
            metadata=ServerMessageMetadata(request_context=RefusedOnArrival(error)),
        )
    return message


async def serve(
    server: Server[Any, Any],
    read_stream: MemoryObjectReceiveStream[SessionMessage | Exception],
    write_stream: MemoryObjectSendStream[SessionMessage],
    *,
    stateless: bool = False,
) -> None:
    """Run ``server`` on a transport's streams until the client goes, every incoming message
    checked on arrival; a handler's failure becomes an error reply, never an exception."""
    checked_writer, checked_reader = anyio.create_memory_object_stream[SessionMessage | Exception](
        0
    )

    async def check_incoming() -> None:
        async with read_stream, checked_writer:
            async for message in read_stream:
                await checked_writer.send(_checked_on_arrival(message))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(check_incoming)
        await server.run(
            checked_reader,
            write_stream,
            server.create_initialization_options(),
            raise_exceptions=False,
            stateless=stateless,
        )
        tasks.cancel_scope.cancel()


def _start_server(
    tasks: anyio.abc.TaskGroup,
    server: Server[Any, Any],
    streams: tuple[Any, Any],
    *,
    stateless: bool = False,
) -> None:
    """Run ``server`` on ``streams`` (its read and write ends) in ``tasks``."""
    tasks.start_soon(lambda: serve(server, streams[0], streams[1], stateless=stateless))


@asynccontextmanager
async def memory_transport(server: Server[Any, Any]) -> AsyncIterator[ClientStreams]:
    """A client's streams to ``server`` running in this process, for the session's length."""
    async with (
        create_client_server_memory_streams() as (client_streams, server_streams),
        anyio.create_task_group() as tasks,
    ):
        _start_server(tasks, server, server_streams)
        try:
            yield client_streams
        finally:
            tasks.cancel_scope.cancel()


@asynccontextmanager
async def lambda_transport(invoke: Invoke) -> AsyncIterator[ClientStreams]:
    """A client's streams to the MCP server Lambda: one invocation per message."""
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def forward() -> None:
        async with write_reader, read_writer:
            async for outgoing in write_reader:
                message = outgoing.message.root
                payload = outgoing.message.model_dump_json(by_alias=True, exclude_none=True)
                try:
                    raw = await anyio.to_thread.run_sync(invoke, payload.encode())
                    reply = _parse_reply(raw)
                except Exception as error:
                    logger.exception("MCP server invocation failed")
                    if not isinstance(message, types.JSONRPCRequest):
                        continue
                    # Answer the request with an error so the caller fails fast, not by timeout.
                    reply = types.JSONRPCMessage(
                        types.JSONRPCError(
                            jsonrpc="2.0",
                            id=message.id,
                            error=types.ErrorData(
                                code=types.INTERNAL_ERROR,
                                message=f"MCP server unreachable: {type(error).__name__}",
                            ),
                        )
                    )
                if reply is not None:
                    await read_writer.send(SessionMessage(reply))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(forward)
        try:
            yield read_stream, write_stream
        finally:
            tasks.cancel_scope.cancel()


def _parse_reply(raw: bytes) -> types.JSONRPCMessage | None:
    text = raw.decode().strip()
    if not text or text == "null":
        return None  # a notification has no reply
    return types.JSONRPCMessage.model_validate_json(text)


async def handle_message(
    server: Server[Any, Any], message: dict[str, Any]
) -> dict[str, Any] | None:
    """Answer one JSON-RPC message (the MCP server Lambda's event) with a stateless session."""
    incoming = types.JSONRPCMessage.model_validate(message)
    is_request = isinstance(incoming.root, types.JSONRPCRequest)
    reply: dict[str, Any] | None = None
    async with create_client_server_memory_streams() as (client_streams, server_streams):
        client_read, client_write = client_streams
        async with anyio.create_task_group() as tasks:
            # Each invocation stands alone: no initialize handshake is kept.
            _start_server(tasks, server, server_streams, stateless=True)
            await client_write.send(SessionMessage(incoming))
            if is_request:
                answer = await client_read.receive()
                if isinstance(answer, Exception):
                    raise answer
                reply = answer.message.model_dump(by_alias=True, mode="json", exclude_none=True)
            tasks.cancel_scope.cancel()
    return reply


def boto3_invoke(function_name: str, region: str | None = None) -> Invoke:
    """Synchronous invocation of the MCP server function; function errors raise."""
    import boto3

    client = boto3.client("lambda", region_name=region)

    def invoke(payload: bytes) -> bytes:
        response = client.invoke(
            FunctionName=function_name, InvocationType="RequestResponse", Payload=payload
        )
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise RuntimeError(f"MCP server function error: {json.loads(body).get('errorType')}")
        return bytes(body)

    return invoke
