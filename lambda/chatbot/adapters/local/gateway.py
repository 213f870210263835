"""The local gateway: a real WebSocket server that plays API Gateway for the Lambda handlers.

Every connect, frame and disconnect becomes the API Gateway event the Lambda would receive,
handled by the same handler code in a worker thread. The gateway is also the connection
sender (@connections over its open sockets) and the engine invoker (an asyncio task that
runs the engine handler in a worker thread), and it serves ``web/`` over HTTP on the same port.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools import Logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from chatbot import web_assets
from chatbot.adapters.local import events
from chatbot.adapters.local.tables import SQLiteTable
from chatbot.chat_service import ChatService
from chatbot.clock import Clock
from chatbot.config import Settings
from chatbot.engine.engine import ChatbotEngine, ModelFactory
from chatbot.engine.factory import build_engine
from chatbot.handlers import engine as engine_handler
from chatbot.handlers import websocket as websocket_handler
from chatbot.handlers.cleanup import run_cleanup
from chatbot.ports import (
    MAX_OUTGOING_FRAME_BYTES,
    ConnectionGoneError,
    ConnectionSender,
    EngineInvoker,
    EngineRequest,
    FrameTooLargeError,
)
from chatbot.runtime import Runtime, build_chat_service, runtime_from_settings
from chatbot.sessions import CleanupReport, time_budget

logger = Logger(service="chatbot", child=True)

# Frames past the handler's limit still reach it, so the client gets MESSAGE_TOO_LARGE and
# keeps its connection; only frames past this hard cap close the socket (code 1009).
HARD_FRAME_CAP = 1024 * 1024
POST_TIMEOUT_SECONDS = 10
# Each connection's frames wait in its own queue for its own writer task, so a client that
# does not read holds no worker thread: past this many bytes queued, or a frame the socket
# has not taken within the send timeout, the client is dropped and posts to it are "gone".
SEND_QUEUE_BYTES = 1024 * 1024
SEND_TIMEOUT_SECONDS = 10.0
# $connect and $disconnect run on their own threads, so handshakes never queue behind frames.
LIFECYCLE_WORKERS = 8
# Most of a worker thread one cleanup tick may hold; the rest waits for the next tick.
LOCAL_CLEANUP_BUDGET_SECONDS = 10.0
# Expired rows are invisible at once but stay in the SQLite file until purged.
LOCAL_PURGE_INTERVAL_SECONDS = 3600.0
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass
class _Client:
    connection: ServerConnection
    connected_at_ms: int
    source_ip: str
    # Frames (or None: close the connection) waiting for the writer; their UTF-8 bytes.
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    queued_bytes: int = 0
    dropped: bool = False


class LocalGateway:
    """Serves the chat protocol on one port. Start with ``start()``, stop with ``stop()``."""

    def __init__(
        self,
        *,
        service_factory: Callable[[ConnectionSender, EngineInvoker], ChatService],
        engine_factory: Callable[[ConnectionSender], ChatbotEngine],
        host: str = "127.0.0.1",
        port: int = 8080,
        web_dir: Path | None = None,
        workers: int = 64,
        lifecycle_workers: int = LIFECYCLE_WORKERS,
        send_queue_bytes: int = SEND_QUEUE_BYTES,
        send_timeout_seconds: float = SEND_TIMEOUT_SECONDS,
        cleanup_interval_seconds: float | None = 60.0,
        cleanup: Callable[[ConnectionSender], CleanupReport] | None = None,
        runtime: Runtime | None = None,
        clock: Clock,
    ) -> None:
        """``service_factory(sender, invoker)`` and ``engine_factory(sender)`` build the
        handlers' collaborators with this gateway as their sender and invoker."""
        self.host = host
        self.port = port
        # The domain objects behind the handlers, for the CLI and tests to inspect.
        self.runtime = runtime
        self._clock = clock
        self._web_dir = web_dir.resolve() if web_dir else None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")
        self._lifecycle_pool = ThreadPoolExecutor(
            max_workers=lifecycle_workers, thread_name_prefix="lambda-connect"
        )
        self.send_queue_bytes = send_queue_bytes
        self.send_timeout_seconds = send_timeout_seconds
        self._clients: dict[str, _Client] = {}
        self._handshakes: dict[object, tuple[str, int, str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._cleanup = cleanup
        self._cleanup_interval = cleanup_interval_seconds
        # API Gateway's limit on a frame sent to a client, enforced here as there, so that a
        # frame that would fail in AWS fails locally (and in the tests) too.
        self.max_outgoing_frame_bytes = MAX_OUTGOING_FRAME_BYTES
        # The largest frame sent so far, in UTF-8 bytes: tests assert it stays under the limit.
        self.largest_frame_bytes = 0
        self.service: ChatService = service_factory(self, self)
        self.engine: ChatbotEngine = engine_factory(self)

    def _now_ms(self) -> int:
        return int(self._clock.time() * 1000)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # The first question should not wait for the embedding model to load.
        await self._loop.run_in_executor(self._pool, self.engine.warm)
        self._server = await serve(
            self._serve_connection,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=HARD_FRAME_CAP,
            # API Gateway does not compress frames; neither do we (it cost ~5% CPU per frame).
            compression=None,
            # API Gateway pings nothing itself; keep the library's keepalive for dead peers.
            ping_interval=20,
            ping_timeout=20,
            # Each send waits until the socket took the whole frame: nothing piles up unseen in
            # the transport's buffer, so a client that stops reading makes its writer's send
            # time out (and the client dropped) instead of leaving replies parked there.
            write_limit=0,
        )
        sockets = list(self._server.sockets)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        if self._cleanup is not None and self._cleanup_interval:
            self._spawn(self._run_cleanup_periodically())

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._lifecycle_pool.shutdown(wait=True, cancel_futures=True)

    # --- HTTP and the WebSocket handshake ($connect) -------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        started = time.perf_counter()
        if request.headers.get("Upgrade", "").lower() != "websocket":
            response = self._static(request.path)
            self._log("http", None, response.status_code, started, path=urlsplit(request.path).path)
            return response
        connection_id = events.new_connection_id()
        connected_at_ms = self._now_ms()
        source_ip = _peer_ip(connection)
        query = dict(parse_qsl(urlsplit(request.path).query))
        headers = {name: value for name, value in request.headers.raw_items()}
        event = events.connect_event(
            connection_id,
            query=query,
            headers=headers,
            domain_name=request.headers.get("Host", self.host),
            source_ip=source_ip,
            connected_at_ms=connected_at_ms,
            request_time_ms=connected_at_ms,
        )
        result = await self._run_in_worker(
            websocket_handler.handle_event, event, self.service, pool=self._lifecycle_pool
        )
        status = int(result.get("statusCode", 500))
        self._log("$connect", connection_id, status, started)
        if status != 200:
            return connection.respond(HTTPStatus(status), f"{HTTPStatus(status).phrase}\n")
        self._handshakes[connection] = (connection_id, connected_at_ms, source_ip)
        self._spawn(self._release_if_never_opened(connection))
        return None

    async def _release_if_never_opened(self, connection: ServerConnection) -> None:
        """$disconnect for a handshake that ran $connect but never reached the 101.

        websockets calls the connection handler (``_serve_connection``) only once the
        connection is OPEN; a handshake reset or timed out after ``process_request`` is
        aborted with no callback. So each accepted handshake has this watcher: when the
        socket closes, a handshake still in the map was never served, and its binding goes.
        ``_serve_connection`` pops its entry before its first await, so the two never race."""
        await connection.wait_closed()
        pending = self._handshakes.pop(connection, None)
        if pending is None:
            return
        connection_id, connected_at_ms, source_ip = pending
        await self._disconnect(connection, connection_id, connected_at_ms, source_ip, "")

    def _static(self, raw_path: str) -> Response:
        path = urlsplit(raw_path).path
        if self._web_dir is None:
            return _response(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain")
        if path.startswith("/" + web_assets.VENDOR_PREFIX):
            # Only the page's pinned libraries, by name, from node_modules (chatbot.web_assets).
            name = path.removeprefix("/" + web_assets.VENDOR_PREFIX)
            asset = web_assets.vendor_file(name)
            if asset is None:
                return _response(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain")
            return _response(HTTPStatus.OK, asset.read_bytes(), web_assets.content_type(name))
        relative = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (self._web_dir / relative).resolve()
        if not target.is_relative_to(self._web_dir) or not target.is_file():
            return _response(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain")
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return _response(HTTPStatus.OK, target.read_bytes(), content_type)

    # --- frames and $disconnect ----------------------------------------------------

    async def _serve_connection(self, connection: ServerConnection) -> None:
        connection_id, connected_at_ms, source_ip = self._handshakes.pop(connection)
        client = _Client(connection, connected_at_ms, source_ip)
        self._clients[connection_id] = client
        writer = asyncio.ensure_future(self._write(connection_id, client))
        domain = connection.request.headers.get("Host", self.host) if connection.request else ""
        try:
            async for message in connection:
                started = time.perf_counter()
                event = events.message_event(
                    connection_id,
                    message,
                    domain_name=domain,
                    source_ip=source_ip,
                    connected_at_ms=connected_at_ms,
                    request_time_ms=self._now_ms(),
                )
                result = await self._run_in_worker(
                    websocket_handler.handle_event, event, self.service
                )
                self._log(
                    event["requestContext"]["routeKey"],
                    connection_id,
                    int(result.get("statusCode", 500)),
                    started,
                )
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(connection_id, None)
            writer.cancel()
            await self._disconnect(connection, connection_id, connected_at_ms, source_ip, domain)

    async def _disconnect(
        self,
        connection: ServerConnection,
        connection_id: str,
        connected_at_ms: int,
        source_ip: str,
        domain: str,
    ) -> None:
        started = time.perf_counter()
        event = events.disconnect_event(
            connection_id,
            domain_name=domain,
            source_ip=source_ip,
            connected_at_ms=connected_at_ms,
            request_time_ms=self._now_ms(),
            status_code=connection.close_code or 1006,
            reason=connection.close_reason or "",
        )
        await self._run_in_worker(
            websocket_handler.handle_event, event, self.service, pool=self._lifecycle_pool
        )
        self._log("$disconnect", connection_id, 200, started)

    async def _write(self, connection_id: str, client: _Client) -> None:
        """The connection's writer: its frames in order, each taken within the send timeout."""
        connection = client.connection
        while True:
            data = await client.outbox.get()
            if data is None:
                try:
                    async with asyncio.timeout(self.send_timeout_seconds):
                        await connection.close(1000, "session closed")
                except TimeoutError:
                    connection.transport.abort()
                return
            client.queued_bytes -= len(data.encode())
            try:
                async with asyncio.timeout(self.send_timeout_seconds):
                    await connection.send(data)
            except TimeoutError:
                self._drop(connection_id, client, "send timed out")
                return
            except ConnectionClosed:
                return

    def _drop(self, connection_id: str, client: _Client, why: str) -> None:
        """Close a client that does not read: at once, with no closing handshake to wait on."""
        if client.dropped:
            return
        client.dropped = True
        self._clients.pop(connection_id, None)
        logger.warning(
            "client dropped: not reading", extra={"connectionId": connection_id, "why": why}
        )
        client.connection.transport.abort()

    # --- the connection sender (@connections) ----------------------------------------

    def post(self, connection_id: str, data: str) -> None:
        """Queue a frame for the client from a worker thread; never waits on its socket.

        Like PostToConnection, success means the gateway took the frame. A client whose queue
        is full is dropped, and this post and every later one raise ConnectionGoneError."""
        client = self._clients.get(connection_id)
        if client is None or self._loop is None:
            raise ConnectionGoneError(connection_id)
        size = len(data.encode())
        if size > self.max_outgoing_frame_bytes:
            # What API Gateway's PostToConnection does: 413, and nothing reaches the client.
            logger.warning(
                "frame refused: too large",
                extra={"connectionId": connection_id, "bytes": size},
            )
            raise FrameTooLargeError(size, self.max_outgoing_frame_bytes)
        self.largest_frame_bytes = max(self.largest_frame_bytes, size)
        future = asyncio.run_coroutine_threadsafe(
            self._enqueue(connection_id, client, data, size), self._loop
        )
        try:
            # Only the event loop's turn is waited for: _enqueue never awaits the socket.
            taken = future.result(timeout=POST_TIMEOUT_SECONDS)
        except FutureTimeout:
            future.cancel()
            taken = False
        if not taken:
            raise ConnectionGoneError(connection_id)

    async def _enqueue(self, connection_id: str, client: _Client, data: str, size: int) -> bool:
        if client.dropped or client.connection.state is not State.OPEN:
            return False
        if client.queued_bytes + size > self.send_queue_bytes:
            self._drop(connection_id, client, "send queue full")
            return False
        client.queued_bytes += size
        client.outbox.put_nowait(data)
        return True

    def delete(self, connection_id: str) -> None:
        """Close the connection once the frames queued before it are sent; does not wait."""
        client = self._clients.get(connection_id)
        if client is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(client.outbox.put_nowait, None)

    # --- the engine invoker (async Lambda invoke) ------------------------------------

    def invoke(self, request: EngineRequest) -> None:
        if self._loop is None:
            raise RuntimeError("the gateway is not running")
        self._loop.call_soon_threadsafe(self._spawn, self._run_engine(request))

    async def _run_engine(self, request: EngineRequest) -> None:
        started = time.perf_counter()
        try:
            await self._run_in_worker(
                engine_handler.handle_event, request.model_dump(), self.engine
            )
            status = 200
        except Exception:
            logger.exception("engine run failed", extra={"messageId": request.messageId})
            status = 500
        self._log("engine", request.connectionId, status, started)

    # --- plumbing ------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_in_worker(
        self, function: Any, *args: Any, pool: ThreadPoolExecutor | None = None
    ) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool or self._pool, function, *args)

    async def _run_cleanup_periodically(self) -> None:
        assert self._cleanup_interval is not None
        assert self._cleanup is not None
        while True:
            await asyncio.sleep(self._cleanup_interval)
            try:
                # run_cleanup logs what it did; a run cut short resumes on the next tick.
                await self._run_in_worker(self._cleanup, self)
            except Exception:
                logger.exception("session cleanup failed")

    def _log(
        self, route: str, connection_id: str | None, status: int, started: float, **extra: Any
    ) -> None:
        logger.info(
            "request",
            extra={
                "route": route,
                "connectionId": connection_id,
                "status": status,
                "durationMs": round((time.perf_counter() - started) * 1000, 2),
                **extra,
            },
        )


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body))})
    for name, value in _SECURITY_HEADERS.items():
        headers[name] = value
    return Response(status.value, status.phrase, headers, body)


def _peer_ip(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "127.0.0.1"


def _local_cleanup(runtime: Runtime) -> Callable[[ConnectionSender], CleanupReport]:
    """The Lambda's cleanup code, with a time budget in place of the Lambda's remaining time;
    then, hourly, what DynamoDB's TTL does in AWS: delete expired rows from the SQLite file."""
    clock = runtime.clock
    last_purge = [float("-inf")]

    def cleanup(sender: ConnectionSender) -> CleanupReport:
        report = run_cleanup(
            runtime.sessions, sender, time_budget(LOCAL_CLEANUP_BUDGET_SECONDS, clock)
        )
        if clock.monotonic() - last_purge[0] >= LOCAL_PURGE_INTERVAL_SECONDS:
            last_purge[0] = clock.monotonic()
            tables = runtime.tables
            stores = (tables.sessions, tables.connections, tables.conversations, tables.analytics)
            purged = sum(t.purge_expired() for t in stores if isinstance(t, SQLiteTable))
            if purged:
                logger.info("expired rows deleted from the local store", extra={"count": purged})
        return report

    return cleanup


def local_gateway(
    settings: Settings,
    *,
    host: str,
    port: int,
    web_dir: Path | None,
    model_for: ModelFactory | None = None,
    cleanup_interval_seconds: float | None = 60.0,
) -> LocalGateway:
    """The gateway on the embedded defaults: SQLite tables and a local secret in the state dir."""
    runtime = runtime_from_settings(settings)
    return LocalGateway(
        service_factory=lambda sender, invoker: build_chat_service(runtime, sender, invoker),
        engine_factory=lambda sender: build_engine(runtime, sender, model_for),
        host=host,
        port=port,
        web_dir=web_dir,
        cleanup=_local_cleanup(runtime),
        cleanup_interval_seconds=cleanup_interval_seconds,
        runtime=runtime,
        clock=runtime.clock,
    )
