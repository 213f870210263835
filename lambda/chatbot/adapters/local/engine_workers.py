"""The engine's worker processes, as the local gateway sees them: the async Lambda invoke.

In AWS the websocket handler and the engine are different functions, so an ack never waits
behind an answer's CPU work (embedding, routing, the Strands loop). Here too: the gateway
keeps the sockets and the websocket handler; the engine runs in ``count`` worker processes
(``engine_worker``), each question sent to the worker with the fewest in flight. A worker's
frames come back over its channel and go out through the gateway's send queues, with the
same checks as any post. A worker that dies has its questions ended with a retryable error
(the user's resend answers them) and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from chatbot.adapters.local.engine_worker import PostOutcome, run_then_exit, run_zygote
from chatbot.config import Settings
from chatbot.engine.engine import ModelFactory
from chatbot.ports import EngineRequest

logger = Logger(service="chatbot", child=True)

# Loading torch and the model in every worker at once, on a busy machine, takes a while.
READY_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 5.0
# Logged once every worker has its model loaded (what bench/gateway.py waits for).
ALL_READY = "all engine workers ready"


class FrameSink(Protocol):
    """What the gateway does for its workers (on its event loop)."""

    def accept_frame(self, connection_id: str, data: str) -> PostOutcome: ...

    def close_connection(self, connection_id: str) -> None: ...

    def answer_lost(self, request: EngineRequest) -> None:
        """The worker answering ``request`` died: end the question (not on the loop's time)."""
        ...

    def log_engine_run(self, request: EngineRequest, ok: bool, started: float) -> None: ...


@dataclass
class _Worker:
    index: int
    connection: Connection
    ready: asyncio.Future[int]
    pid: int = 0
    # Questions sent to it and not done: id -> (request, perf_counter at invoke).
    inflight: dict[int, tuple[EngineRequest, float]] = field(default_factory=dict)
    lost: asyncio.Event = field(default_factory=asyncio.Event)


class EngineWorkers:
    """Start with ``await start(sink)``; ``invoke`` from any thread; ``await stop()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        count: int,
        model_for: ModelFactory | None = None,
        ready_timeout_seconds: float = READY_TIMEOUT_SECONDS,
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        self.count = count
        self._settings = settings
        self._model_for = model_for
        self._ready_timeout = ready_timeout_seconds
        self._workers: dict[int, _Worker] = {}
        self._ids = itertools.count()
        # Questions invoked while no worker was ready (all were being replaced).
        self._backlog: list[EngineRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: FrameSink | None = None
        self._zygote: socket.socket | None = None
        self._zygote_pid = 0
        self._stopping = False
        self._respawns: set[asyncio.Task[None]] = set()

    @property
    def pids(self) -> list[int]:
        """The ready workers' process ids (for logs and the tests that kill one)."""
        return [worker.pid for worker in self._workers.values() if _succeeded(worker.ready)]

    async def start(self, sink: FrameSink) -> None:
        """Fork the zygote and the first worker, and wait until it has its model loaded; the
        others start then, one after another, while the gateway serves (models loading side
        by side on a small machine would each take as long as all of them one by one).
        Call before the gateway opens a socket: the zygote must inherit none."""
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            run_then_exit(lambda: run_zygote(theirs, self._settings, self._model_for))
        theirs.close()
        self._zygote, self._zygote_pid = ours, pid
        try:
            async with asyncio.timeout(self._ready_timeout):
                await self._fork_worker(0).ready
        except BaseException:
            await self.stop()
            raise
        if self.count > 1:
            self._start_later(self._start_the_others())
        else:
            logger.info(ALL_READY, extra={"workers": self.count})

    async def _start_the_others(self) -> None:
        for index in range(1, self.count):
            worker = self._fork_worker(index)
            try:
                await worker.ready
            except RuntimeError:
                logger.error("engine worker failed to start", extra={"worker": index})
                return
        logger.info(ALL_READY, extra={"workers": self.count})

    def _start_later(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._respawns.add(task)
        task.add_done_callback(self._respawns.discard)

    def invoke(self, request: EngineRequest) -> None:
        """The async invoke: returns at once; any thread."""
        if self._loop is None:
            raise RuntimeError("the engine workers are not running")
        self._loop.call_soon_threadsafe(self._dispatch, request)

    async def stop(self) -> None:
        """Stop every worker (killed if it does not leave in time), then the zygote."""
        self._stopping = True
        for task in list(self._respawns):
            task.cancel()
        workers = list(self._workers.values())
        for worker in workers:
            self._send(worker, ("stop",))
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await asyncio.gather(*(worker.lost.wait() for worker in workers))
        except TimeoutError:
            for worker in workers:
                if not worker.lost.is_set() and worker.pid:
                    _kill(worker.pid)
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
            await asyncio.to_thread(_reap, self._zygote_pid)

    # --- on the event loop -----------------------------------------------------------

    def _fork_worker(self, index: int) -> _Worker:
        assert self._loop is not None and self._zygote is not None
        ours, theirs = socket.socketpair()
        socket.send_fds(self._zygote, [b"worker"], [theirs.fileno()])
        theirs.close()
        worker = _Worker(index, Connection(ours.detach()), self._loop.create_future())
        self._workers[index] = worker
        threading.Thread(
            target=self._read, args=(worker,), name=f"engine-worker-{index}", daemon=True
        ).start()
        return worker

    def _dispatch(self, request: EngineRequest) -> None:
        ready = [worker for worker in self._workers.values() if _succeeded(worker.ready)]
        ready = [worker for worker in ready if not worker.lost.is_set()]
        if not ready:
            self._backlog.append(request)
            return
        worker = min(ready, key=lambda candidate: len(candidate.inflight))
        request_id = next(self._ids)
        worker.inflight[request_id] = (request, time.perf_counter())
        if not self._send(worker, ("invoke", request_id, request.model_dump())):
            # Its channel broke: the reader sees that too, and the question ends as lost.
            return

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        assert self._sink is not None
        kind = message[0]
        if kind == "post":
            _, call, connection_id, data = message
            self._send(worker, ("posted", call, self._sink.accept_frame(connection_id, data)))
        elif kind == "delete":
            self._sink.close_connection(message[1])
        elif kind == "done":
            entry = worker.inflight.pop(message[1], None)
            if entry is not None:
                self._sink.log_engine_run(entry[0], bool(message[2]), entry[1])
        elif kind == "started":
            worker.pid = int(message[1])
        elif kind == "ready":
            worker.pid = int(message[1])
            if not worker.ready.done():
                worker.ready.set_result(worker.pid)
            logger.info("engine worker ready", extra={"worker": worker.index, "pid": worker.pid})
            backlog, self._backlog = self._backlog, []
            for request in backlog:
                self._dispatch(request)

    def _on_lost(self, worker: _Worker) -> None:
        assert self._sink is not None
        worker.lost.set()
        if self._workers.get(worker.index) is worker:
            del self._workers[worker.index]
        worker.connection.close()
        if not worker.ready.done():
            worker.ready.set_exception(
                RuntimeError("an engine worker failed to start (its log says why)")
            )
            return
        if self._stopping:
            return
        logger.error(
            "engine worker died",
            extra={"worker": worker.index, "pid": worker.pid, "inflight": len(worker.inflight)},
        )
        for request, _started in worker.inflight.values():
            self._sink.answer_lost(request)
        worker.inflight.clear()
        self._start_later(self._replace(worker.index))

    async def _replace(self, index: int) -> None:
        try:
            await self._fork_worker(index).ready
        except OSError:
            logger.error("engine worker not replaced: the zygote is gone", extra={"worker": index})
        except RuntimeError:
            # Not again: a worker that cannot start (a missing model) would only fail again.
            logger.error("engine worker not replaced: it failed to start", extra={"worker": index})

    def _send(self, worker: _Worker, message: tuple[Any, ...]) -> bool:
        try:
            worker.connection.send(message)
        except (OSError, ValueError):
            return False
        return True

    # --- on each worker's reader thread ------------------------------------------------

    def _read(self, worker: _Worker) -> None:
        assert self._loop is not None
        loop = self._loop
        while True:
            try:
                message = worker.connection.recv()
            except (EOFError, OSError):
                break
            _call_soon(loop, self._on_message, worker, message)
        _call_soon(loop, self._on_lost, worker)


def _succeeded(future: asyncio.Future[int]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    # RuntimeError: the loop is closed, the gateway has stopped.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it left after all
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # already reaped
        os.waitpid(pid, 0)
