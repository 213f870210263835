"""The local gateway: a real WebSocket server that plays API Gateway for the Lambda handlers.

Every connect, frame and disconnect becomes the API Gateway event the Lambda would receive,
handled by the same handler code in a worker thread. The gateway is also the connection
sender (@connections over its open sockets) and the engine invoker: the engine handler runs
in engine worker processes (``engine_workers``), as the engine Lambda runs apart from the
websocket one, or with ``ENGINE_WORKERS=0`` in a thread of this process. It serves ``web/``
over HTTP on the same port.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools import Logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chatbot.adapters.local import events
from chatbot.adapters.local.cleanup import local_cleanup
from chatbot.adapters.local.engine_worker import PostOutcome
from chatbot.adapters.local.engine_workers import EngineWorkers
from chatbot.adapters.local.lost_answers import fail_lost_answer
from chatbot.adapters.local.send_queue import (
    SEND_QUEUE_BYTES,
    SEND_TIMEOUT_SECONDS,
    Client,
    SendQueues,
)
from chatbot.adapters.local.static_files import json_response, static_response
from chatbot.chat_service import ChatService
from chatbot.clock import Clock
from chatbot.config import Settings
from chatbot.engine.engine import ChatbotEngine, ModelFactory
from chatbot.engine.factory import build_engine
from chatbot.handlers import engine as engine_handler
from chatbot.handlers import websocket as websocket_handler
from chatbot.ports import (
    MAX_OUTGOING_FRAME_BYTES,
    ConnectionGoneError,
    ConnectionSender,
    EngineInvoker,
    EngineRequest,
    FrameTooLargeError,
)
from chatbot.runtime import Runtime, build_chat_service, runtime_from_settings
from chatbot.sessions import CleanupReport
from chatbot.starter_corpus import StarterCorpus, status_body

logger = Logger(service="chatbot", child=True)

# Frames past the handler's limit still reach it, so the client gets MESSAGE_TOO_LARGE and
# keeps its connection; only frames past this hard cap close the socket (code 1009).
HARD_FRAME_CAP = 1024 * 1024
POST_TIMEOUT_SECONDS = 10
# $connect and $disconnect run on their own threads, so handshakes never queue behind frames.
LIFECYCLE_WORKERS = 8
# Where the page reads the starter corpus's progress (web/starter-corpus.js).
STARTER_STATUS_PATH = "/starter-corpus.json"


class LocalGateway:
    """Serves the chat protocol on one port. Start with ``start()``, stop with ``stop()``."""

    def __init__(
        self,
        *,
        service_factory: Callable[[ConnectionSender, EngineInvoker], ChatService],
        engine_factory: Callable[[ConnectionSender], ChatbotEngine] | None = None,
        engine_workers: EngineWorkers | None = None,
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
        starter: StarterCorpus | None = None,
        clock: Clock,
    ) -> None:
        """``service_factory(sender, invoker)`` and ``engine_factory(sender)`` build the
        handlers' collaborators with this gateway as their sender and invoker. With
        ``engine_workers`` the engine runs in those processes instead (``runtime`` is then
        required: it ends the questions of a worker that died)."""
        if (engine_factory is None) == (engine_workers is None):
            raise ValueError("give engine_factory or engine_workers, not both or neither")
        if engine_workers is not None and runtime is None:
            raise ValueError("engine_workers need the runtime")
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
        self._send = SendQueues(queue_bytes=send_queue_bytes, timeout_seconds=send_timeout_seconds)
        # The open connections' clients (the send queues' own map).
        self._clients = self._send.clients
        self._handshakes: dict[object, tuple[str, int, str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._cleanup = cleanup
        # The starter corpus offered on an empty index, and its progress for the page.
        self.starter = starter
        self._cleanup_interval = cleanup_interval_seconds
        # API Gateway's limit on a frame sent to a client, enforced here as there, so that a
        # frame that would fail in AWS fails locally (and in the tests) too.
        self.max_outgoing_frame_bytes = MAX_OUTGOING_FRAME_BYTES
        # The largest frame sent so far, in UTF-8 bytes: tests assert it stays under the limit.
        self.largest_frame_bytes = 0
        self.service: ChatService = service_factory(self, self)
        self.workers = engine_workers
        # The in-process engine (ENGINE_WORKERS=0), or None when workers run it.
        self.engine: ChatbotEngine | None = engine_factory(self) if engine_factory else None

    def _now_ms(self) -> int:
        return int(self._clock.time() * 1000)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.workers is not None:
            # Before any socket is open, so that no worker inherits one; each loads its model.
            await self.workers.start(self)
        elif self.engine is not None:
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
        if self.starter is not None:
            # After the workers forked and the port opened: the page is up while it runs.
            self.starter.start()

    async def stop(self) -> None:
        if self.starter is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.starter.stop)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.workers is not None:
            await self.workers.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._lifecycle_pool.shutdown(wait=True, cancel_futures=True)

    # --- HTTP and the WebSocket handshake ($connect) -------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        started = time.perf_counter()
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if self.starter is not None and urlsplit(request.path).path == STARTER_STATUS_PATH:
                response = json_response(status_body(self.starter.status))
            else:
                response = static_response(self._web_dir, request.path)
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

    # --- frames and $disconnect ----------------------------------------------------

    async def _serve_connection(self, connection: ServerConnection) -> None:
        connection_id, connected_at_ms, source_ip = self._handshakes.pop(connection)
        writer = self._send.open(connection_id, Client(connection, connected_at_ms, source_ip))
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

    # --- the connection sender (@connections) ----------------------------------------

    def post(self, connection_id: str, data: str) -> None:
        """Queue a frame for the client from a worker thread; never waits on its socket.

        Like PostToConnection, success means the gateway took the frame. A client whose queue
        is full is dropped, and this post and every later one raise ConnectionGoneError."""
        if self._loop is None:
            raise ConnectionGoneError(connection_id)
        future = asyncio.run_coroutine_threadsafe(self._accept(connection_id, data), self._loop)
        try:
            # Only the event loop's turn is waited for: accepting never awaits the socket.
            outcome = future.result(timeout=POST_TIMEOUT_SECONDS)
        except FutureTimeout:
            future.cancel()
            outcome = "gone"
        if isinstance(outcome, tuple):
            raise FrameTooLargeError(outcome[1], outcome[2])
        if outcome != "ok":
            raise ConnectionGoneError(connection_id)

    async def _accept(self, connection_id: str, data: str) -> PostOutcome:
        return self.accept_frame(connection_id, data)

    def accept_frame(self, connection_id: str, data: str) -> PostOutcome:
        """On the event loop: queue ``data`` for the client, with API Gateway's checks.
        "ok", "gone" (no such client, or dropped now for a full queue), or
        ("too_large", size, limit), for in-process posts and engine workers' alike."""
        client = self._clients.get(connection_id)
        if client is None:
            return "gone"
        size = len(data.encode())
        if size > self.max_outgoing_frame_bytes:
            # What API Gateway's PostToConnection does: 413, and nothing reaches the client.
            logger.warning(
                "frame refused: too large",
                extra={"connectionId": connection_id, "bytes": size},
            )
            return ("too_large", size, self.max_outgoing_frame_bytes)
        self.largest_frame_bytes = max(self.largest_frame_bytes, size)
        return "ok" if self._send.offer(connection_id, client, data, size) else "gone"

    def delete(self, connection_id: str) -> None:
        """Close the connection once the frames queued before it are sent; does not wait."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.close_connection, connection_id)

    def close_connection(self, connection_id: str) -> None:
        """On the event loop: ``delete``'s work."""
        client = self._clients.get(connection_id)
        if client is not None:
            client.outbox.put_nowait(None)

    # --- the engine invoker (async Lambda invoke) ------------------------------------

    def invoke(self, request: EngineRequest) -> None:
        if self._loop is None:
            raise RuntimeError("the gateway is not running")
        if self.workers is not None:
            self.workers.invoke(request)
            return
        self._loop.call_soon_threadsafe(self._spawn, self._run_engine(request))

    def answer_lost(self, request: EngineRequest) -> None:
        """On the event loop: the engine worker answering ``request`` died."""
        assert self.runtime is not None
        self._spawn(self._run_in_worker(fail_lost_answer, self.runtime, self, request))

    def log_engine_run(self, request: EngineRequest, ok: bool, started: float) -> None:
        self._log("engine", request.connectionId, 200 if ok else 500, started)

    async def _run_engine(self, request: EngineRequest) -> None:
        started = time.perf_counter()
        ok = True
        try:
            await self._run_in_worker(
                engine_handler.handle_event, request.model_dump(), self.engine
            )
        except Exception:
            logger.exception("engine run failed", extra={"messageId": request.messageId})
            ok = False
        self.log_engine_run(request, ok, started)

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


def _peer_ip(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "127.0.0.1"


def local_gateway(
    settings: Settings,
    *,
    host: str,
    port: int,
    web_dir: Path | None,
    model_for: ModelFactory | None = None,
    cleanup_interval_seconds: float | None = 60.0,
) -> LocalGateway:
    """The gateway on the embedded defaults: SQLite tables and a local secret in the state dir.

    The engine runs in ENGINE_WORKERS processes (default: one per core), each with its own
    ``model_for`` (inherited when the worker forks); with 0, or where processes cannot fork,
    in this process."""
    count = settings.engine_worker_count if hasattr(os, "fork") else 0
    # With workers, their commits checkpoint the WAL: one on the gateway's single connection
    # held every handler thread's reads and writes behind it (later-ack p99 311 -> 66 ms).
    runtime = runtime_from_settings(settings, checkpoints=count == 0)
    return LocalGateway(
        service_factory=lambda sender, invoker: build_chat_service(runtime, sender, invoker),
        engine_factory=(lambda sender: build_engine(runtime, sender, model_for))
        if not count
        else None,
        engine_workers=EngineWorkers(settings, count=count, model_for=model_for) if count else None,
        host=host,
        port=port,
        web_dir=web_dir,
        cleanup=local_cleanup(runtime),
        cleanup_interval_seconds=cleanup_interval_seconds,
        runtime=runtime,
        starter=StarterCorpus(settings, runtime.clock),
        clock=runtime.clock,
    )
