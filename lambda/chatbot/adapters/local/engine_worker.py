"""One engine worker process: the engine function's twin, run beside the local gateway.

A worker builds its own runtime (its own SQLite connection and clock) and its own engine,
with its own embedding model loaded once, then answers the questions the gateway sends it
with the engine Lambda's own entry, ``handlers.engine.handle_event``, several at a time on
threads. Its frames go back over its channel to the gateway, which owns the sockets: the
worker's @connections. It exits when the gateway says stop or when the channel closes (the
gateway died), so no worker outlives its gateway.

Workers are forked from a "zygote", itself forked from the gateway before it opens any
socket: a worker inherits no client connection, and starts with the gateway's modules
already imported.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from aws_lambda_powertools import Logger

from chatbot.config import Environment, Settings
from chatbot.engine.engine import ModelFactory
from chatbot.ports import ConnectionGoneError, FrameTooLargeError

logger = Logger(service="chatbot", child=True)

# How long a worker waits for the gateway to take a frame (the gateway's own post timeout).
POST_TIMEOUT_SECONDS = 10.0
# Workers yield the CPU to the gateway when both want it: an ack is a few milliseconds of
# work that should not queue behind an answer's (in AWS they are different functions).
WORKER_NICENESS = 10

# Channel messages, as tuples (pickled by multiprocessing.connection):
#   gateway -> worker: ("invoke", id, event) | ("posted", call, outcome) | ("stop",)
#   worker -> gateway: ("started", pid) | ("ready", pid) | ("post", call, connectionId, data)
#                      | ("delete", connectionId) | ("done", id, ok) | ("stats", {...})
# A post's outcome: "ok", "gone", or ("too_large", size, limit).
PostOutcome = str | tuple[str, int, int]


class WorkerChannel:
    """The worker's end of its channel: sends from any thread, and posts that wait for
    the gateway's answer."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._sending = threading.Lock()
        self._calls = itertools.count()
        self._waiting: dict[int, tuple[threading.Event, list[PostOutcome]]] = {}
        self._waiting_lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._sending:
            self._connection.send(message)

    def recv(self) -> tuple[Any, ...]:
        message: tuple[Any, ...] = self._connection.recv()
        return message

    def call_post(self, connection_id: str, data: str) -> PostOutcome:
        call = next(self._calls)
        answered = threading.Event()
        slot: list[PostOutcome] = []
        with self._waiting_lock:
            self._waiting[call] = (answered, slot)
        try:
            self.send(("post", call, connection_id, data))
            if not answered.wait(POST_TIMEOUT_SECONDS):
                return "gone"
            return slot[0]
        finally:
            with self._waiting_lock:
                self._waiting.pop(call, None)

    def resolve(self, call: int, outcome: PostOutcome) -> None:
        with self._waiting_lock:
            waiting = self._waiting.get(call)
        if waiting is not None:
            waiting[1].append(outcome)
            waiting[0].set()


class ChannelSender:
    """The ConnectionSender of an engine in a worker: the gateway's sockets, over the channel.

    The gateway answers each post as PostToConnection would: taken, gone, or too large."""

    def __init__(self, channel: WorkerChannel) -> None:
        self._channel = channel

    def post(self, connection_id: str, data: str) -> None:
        outcome = self._channel.call_post(connection_id, data)
        if outcome == "ok":
            return
        if isinstance(outcome, tuple) and outcome[0] == "too_large":
            raise FrameTooLargeError(outcome[1], outcome[2])
        raise ConnectionGoneError(connection_id)

    def delete(self, connection_id: str) -> None:
        self._channel.send(("delete", connection_id))


def run_zygote(channel: socket.socket, settings: Settings, model_for: ModelFactory | None) -> None:
    """Fork a worker for each channel end the gateway passes; return when the gateway goes."""
    _leave_the_gateways_signals()
    # Forked workers are reaped by the kernel; the gateway watches them over their channels.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _preload_model_library(settings)
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(channel, 64, 1)
        except OSError:
            return
        if not message:
            return  # the gateway closed its end: it stopped or died
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            channel.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            run_then_exit(partial(run_worker, Connection(fds[0]), settings, model_for))
        os.close(fds[0])


def run_worker(connection: Connection, settings: Settings, model_for: ModelFactory | None) -> None:
    """Build the engine, say ready, then answer what the gateway sends until it says stop."""
    os.nice(WORKER_NICENESS)
    settings = _with_torch_threads(settings)
    # Imported here: the zygote needs neither the engine's wiring nor its handler loaded.
    from chatbot.engine.factory import build_engine
    from chatbot.handlers import engine as engine_handler
    from chatbot.runtime import runtime_from_settings

    channel = WorkerChannel(connection)
    # Before the slow part, so that a gateway stopping meanwhile knows whom to stop.
    channel.send(("started", os.getpid()))
    # The worker's own runtime: its own SQLite connection (WAL lets the processes share the
    # file) and its own clock; nothing of the gateway's is used after the fork.
    runtime = runtime_from_settings(settings)
    engine = build_engine(runtime, ChannelSender(channel), model_for)
    engine.warm()
    channel.send(("ready", os.getpid()))
    answering = ThreadPoolExecutor(
        max_workers=settings.engine_worker_threads, thread_name_prefix="engine"
    )

    def answer(request_id: int, event: dict[str, Any]) -> None:
        ok = True
        try:
            engine_handler.handle_event(event, engine)
        except Exception:
            logger.exception("engine run failed", extra={"messageId": event.get("messageId")})
            ok = False
        # OSError: the gateway is gone; the main loop is exiting too.
        with contextlib.suppress(OSError):
            channel.send(("done", request_id, ok))

    while True:
        try:
            message = channel.recv()
        except (EOFError, OSError):
            return  # the gateway died: its questions' leases lapse, a resend retries
        kind = message[0]
        if kind == "invoke":
            answering.submit(answer, message[1], message[2])
        elif kind == "posted":
            channel.resolve(message[1], message[2])
        elif kind == "stop":
            _log_query_batches(settings)
            return


def _with_torch_threads(settings: Settings) -> Settings:
    """Unset EMBEDDING_THREADS means torch's default, a thread per core, in every worker: on
    a small machine the workers' threads would then fight over the cores. A worker takes
    its share of them instead."""
    if settings.embedding_threads is not None:
        return settings
    share = max(1, _cores() // max(settings.engine_worker_count, 1))
    return settings.model_copy(update={"embedding_threads": share})


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _log_query_batches(settings: Settings) -> None:
    """The sizes the query micro-batcher reached, for the bench (and anyone tuning it)."""
    from chatbot.embeddings import embeddings_from_settings

    embeddings: Any = embeddings_from_settings(settings)
    stats = getattr(getattr(embeddings, "inner", embeddings), "query_batches", None)
    if stats is None:
        return
    logger.info(
        "query embedding batches",
        extra={
            "batches": stats.batches,
            "queries": stats.queries,
            "largest": stats.largest,
            "sizes": {str(size): count for size, count in stats.sizes.items()},
        },
    )


def _leave_the_gateways_signals() -> None:
    # The gateway's event loop wrote signal numbers to its wakeup pipe; a child must not.
    signal.set_wakeup_fd(-1)
    # Ctrl-C reaches the whole process group: the gateway decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _preload_model_library(settings: Settings) -> None:
    """Import the local model's library once, so each worker forks with it imported. Only
    the import: torch starts no threads until it computes, so forking after it is safe.
    Skipped where a worker's warm-up loads no model (the keyword router)."""
    if settings.chatbot_env is not Environment.LOCAL or settings.router_mode != "semantic":
        return
    from chatbot.adapters.local.embeddings import LocalModelMissingError, import_model_library

    # Not installed: the worker reports the missing model when it loads it.
    with contextlib.suppress(LocalModelMissingError):
        import_model_library()


def run_then_exit(run: Callable[[], None]) -> None:
    """Run a forked child's body and leave with os._exit: the gateway's inherited objects
    (its SQLite connection, its event loop) must never be finalised in the child."""
    code = 0
    try:
        run()
    except BaseException:
        logger.exception("engine worker failed")
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
