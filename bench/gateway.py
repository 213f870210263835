"""Load test: N concurrent WebSocket clients, M messages each, against the local gateway.

With ``--budget`` it also times each path's first delta from one client, and exits non-zero
when a figure is over the budgets in ``budgets.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import budgets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException
from websockets.version import version as websockets_version

from chatbot.analytics_report import percentile

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/")
# The embedded defaults are what is measured, whatever the developer's shell says.
LEAKY_SETTINGS = ("CHATBOT_ENV", "CHATBOT_MODEL", "RATE_LIMIT_PER_MINUTE")
# The gateway's tail of output is kept to explain a failed start.
OUTPUT_TAIL_BYTES = 16 * 1024


@dataclass
class Results:
    connect_s: list[float] = field(default_factory=list)
    ack_s: list[float] = field(default_factory=list)
    first_delta_s: list[float] = field(default_factory=list)
    # The path of each answer (the final message's queryType).
    paths: Counter[str] = field(default_factory=Counter)
    answer_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    load_seconds: float = 0.0


# --- the target server ----------------------------------------------------------------


class Target:
    """A server in a child process, started on a free port and stopped when the run ends."""

    def __init__(self, echo: bool, ingest: list[Path] | None = None) -> None:
        self.echo = echo
        # Documents ingested into the fresh state dir before the server starts.
        self.ingest = ingest or []
        self.name = "echo server" if echo else "gateway"
        self.process: asyncio.subprocess.Process | None = None
        self.tail = bytearray()
        self._state_dir = tempfile.TemporaryDirectory(prefix="chatbot-bench-")
        self._drain_task: asyncio.Task[None] | None = None

    async def start(self, within_seconds: float, lifetime: float) -> str:
        if self.echo:
            command = [sys.executable, str(REPO_ROOT / "bench" / "echo_server.py")]
            command += ["--port", "0", "--lifetime", str(lifetime)]
        else:
            command = [sys.executable, "-m", "chatbot.cli", "serve", "--host", "127.0.0.1"]
            command += ["--port", "0"]
        # A fresh state dir: no sessions or history from earlier runs skew the figures.
        env = {name: value for name, value in os.environ.items() if name not in LEAKY_SETTINGS}
        env["CHATBOT_STATE_DIR"] = self._state_dir.name
        if self.ingest:
            ingesting = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "chatbot.cli", "ingest", *map(str, self.ingest)),
                cwd=REPO_ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _out, errors = await asyncio.wait_for(ingesting.communicate(), within_seconds)
            if ingesting.returncode:
                raise SystemExit(f"chatbot ingest failed:\n{errors.decode(errors='replace')}")
        self.process = await asyncio.create_subprocess_exec(
            *command,
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            port = await asyncio.wait_for(self._wait_for_url(), within_seconds)
        except TimeoutError:
            raise SystemExit(
                f"{self.name} did not start within {within_seconds} s:\n{self.output()}"
            ) from None
        # The gateway logs every request; unread, its pipe would fill and stall it.
        self._drain_task = asyncio.create_task(self._drain())
        return f"ws://127.0.0.1:{port}/"

    async def _wait_for_url(self) -> int:
        assert self.process is not None
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self._keep(line)
            if match := READY_LINE.search(line.decode(errors="replace")):
                return int(match.group(1))
        raise SystemExit(f"{self.name} exited ({await self.process.wait()}):\n{self.output()}")

    async def _drain(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(65536):
            self._keep(chunk)

    def _keep(self, data: bytes) -> None:
        self.tail += data
        del self.tail[:-OUTPUT_TAIL_BYTES]

    def output(self) -> str:
        return self.tail.decode(errors="replace")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain_task
        self._state_dir.cleanup()


# --- one client -------------------------------------------------------------------------


async def _receive(connection: ClientConnection, deadline: float) -> dict[str, object]:
    raw = await asyncio.wait_for(connection.recv(), max(deadline - time.monotonic(), 0.001))
    frame = json.loads(raw)
    if not isinstance(frame, dict):
        raise ValueError("frame is not an object")
    return frame


async def _converse(
    connection: ClientConnection, client: int, messages: int, deadline: float, results: Results
) -> None:
    for number in range(messages):
        message_id = f"b{client}-{number}-{uuid.uuid4().hex[:12]}"
        content = f"Benchmark client {client}, question {number}: what does the gateway do?"
        frame = {"action": "sendMessage", "messageId": message_id, "content": content}
        sent = time.perf_counter()
        await connection.send(json.dumps(frame))
        deltas: list[str] = []
        while True:
            reply = await _receive(connection, deadline)
            if reply.get("messageId") != message_id:
                continue
            kind = reply.get("type")
            if kind == "ack":
                results.ack_s.append(time.perf_counter() - sent)
            elif kind == "delta":
                if not deltas:
                    results.first_delta_s.append(time.perf_counter() - sent)
                deltas.append(str(reply.get("content", "")))
            elif kind == "message":
                results.answer_s.append(time.perf_counter() - sent)
                results.paths[str(reply.get("queryType"))] += 1
                # Deltas arrive in index order over one socket; their sum must be the answer.
                if deltas and "".join(deltas) != reply.get("content"):
                    results.errors["deltas != message"] += 1
                break
            elif kind == "error":
                results.errors[str(reply.get("code", "error"))] += 1
                break


class StartLine:
    """Holds every client until all have connected (or failed), then lets them go at once."""

    def __init__(self, clients: int) -> None:
        self._waiting = clients
        self.everyone_arrived = asyncio.Event()
        self.go = asyncio.Event()

    def arrive(self) -> None:
        self._waiting -= 1
        if self._waiting <= 0:
            self.everyone_arrived.set()


async def run_client(
    url: str,
    client: int,
    messages: int,
    start_line: StartLine,
    connect_timeout: float,
    deadline: float,
    results: Results,
) -> None:
    started = time.perf_counter()
    arrived = False
    try:
        async with connect(url, open_timeout=connect_timeout, close_timeout=5) as connection:
            await connection.send(json.dumps({"action": "getSession"}))
            session_deadline = time.monotonic() + connect_timeout
            while (await _receive(connection, session_deadline)).get("type") != "session":
                pass
            results.connect_s.append(time.perf_counter() - started)
            arrived = True
            start_line.arrive()
            # Everyone starts sending together, so connection setup stays out of the figures.
            await start_line.go.wait()
            await _converse(connection, client, messages, deadline, results)
    except TimeoutError:
        results.errors["timeout" if arrived else "connect: timeout"] += 1
    except (OSError, InvalidHandshake) as error:
        results.errors[f"connect: {type(error).__name__}"] += 1
    except WebSocketException as error:
        results.errors[f"socket: {type(error).__name__}"] += 1
    finally:
        # A client that failed to connect must not hold the others at the start line.
        if not arrived:
            start_line.arrive()


async def run_load(
    url: str, clients: int, messages: int, connect_timeout: float, load_seconds: float
) -> Results:
    results = Results()
    start_line = StartLine(clients)
    deadline = time.monotonic() + load_seconds
    tasks = [
        asyncio.create_task(
            run_client(url, client, messages, start_line, connect_timeout, deadline, results)
        )
        for client in range(clients)
    ]
    # Every client arrives within its connect timeout; the margin covers scheduling.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(start_line.everyone_arrived.wait(), connect_timeout + 5)
    started = time.perf_counter()
    start_line.go.set()
    # Each receive is bounded by the deadline; this bounds a send stuck on backpressure too.
    _done, pending = await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0) + 10)
    for task in pending:
        task.cancel()
        results.errors["timeout"] += 1
    await asyncio.gather(*pending, return_exceptions=True)
    results.load_seconds = time.perf_counter() - started
    return results


# --- reporting --------------------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (chatbot.analytics_report.percentile), NaN for no values."""
    value = percentile(values, share)
    return math.nan if value is None else value


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


TABLE_HEADER = (
    "| target | clients | messages/client | answers | errors "
    "| connect p50 ms | ack p50 ms | ack p99 ms | answer p50 ms | answer p99 ms "
    "| answers/s | load s |\n"
    "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def table_row(target: str, clients: int, messages: int, results: Results) -> str:
    answers = len(results.answer_s)
    errors = ", ".join(f"{name}: {count}" for name, count in sorted(results.errors.items()))
    rate = answers / results.load_seconds if results.load_seconds else 0.0
    cells = [
        target,
        str(clients),
        str(messages),
        str(answers),
        errors or "0",
        _ms(_percentile(results.connect_s, 50)),
        _ms(_percentile(results.ack_s, 50)),
        _ms(_percentile(results.ack_s, 99)),
        _ms(_percentile(results.answer_s, 50)),
        _ms(_percentile(results.answer_s, 99)),
        f"{rate:.1f}",
        f"{results.load_seconds:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def machine() -> str:
    return (
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"websockets {websockets_version}, {platform.system()} {platform.machine()}"
    )


def append_report(
    path: Path, target: str, clients: int, messages: int, row: str, notes: list[str]
) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with path.open("a", encoding="utf-8") as report:
        report.write(
            f"\n### {stamp}: {target}, {clients} clients x {messages} messages\n\n"
            f"Machine: {machine()}. Command: `{' '.join(sys.argv)}`\n\n"
            f"{TABLE_HEADER}\n{row}\n"
        )
        report.writelines(f"\n- {note}" for note in notes)
        report.write("\n" if notes else "")


# --- the command ------------------------------------------------------------------------


async def main(arguments: argparse.Namespace) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the server child is stopped too.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    target = None
    if arguments.url is None:
        # The rag path needs documents to search: the budget run ingests some first.
        ingest = budgets.BUDGET_DOCUMENTS if arguments.budget else None
        target = Target(echo=arguments.echo, ingest=ingest)
    name = arguments.url or (target.name if target else "")
    probes: list[budgets.PathProbe] = []
    try:
        if target is not None:
            url = await target.start(arguments.start_timeout, lifetime=arguments.timeout + 60)
        else:
            url = arguments.url
        if arguments.budget:
            # On the idle gateway, before the load: one client, each path in turn.
            probes = await budgets.probe_paths(url, arguments.connect_timeout)
        results = await run_load(
            url, arguments.clients, arguments.messages, arguments.connect_timeout, arguments.timeout
        )
    finally:
        if target is not None:
            await target.stop()
    row = table_row(name, arguments.clients, arguments.messages, results)
    notes = [
        f"first delta p50/p99 ms under load: {_ms(_percentile(results.first_delta_s, 50))}"
        f"/{_ms(_percentile(results.first_delta_s, 99))}; answers by path: "
        + (", ".join(f"{path} {count}" for path, count in sorted(results.paths.items())) or "-")
    ]
    if target is not None and not target.echo:
        notes.append(budgets.describe_batches(budgets.query_batch_lines(target.output())))
    verdicts = _verdicts(arguments.clients, results, probes) if arguments.budget else []
    notes += [verdict.line() for verdict in verdicts]
    print(TABLE_HEADER)
    print(row)
    for note in notes:
        print(note)
    if arguments.output:
        append_report(arguments.output, name, arguments.clients, arguments.messages, row, notes)
    expected = arguments.clients * arguments.messages
    complete = len(results.answer_s) == expected and not results.errors
    return 0 if complete and all(verdict.ok for verdict in verdicts) else 1


def _verdicts(
    clients: int, results: Results, probes: list[budgets.PathProbe]
) -> list[budgets.Verdict]:
    rate = len(results.answer_s) / results.load_seconds if results.load_seconds else 0.0
    p50 = {probe.path: _percentile(probe.first_delta_s, 50) * 1000 for probe in probes}
    return [
        *budgets.load_verdicts(clients, _percentile(results.ack_s, 99) * 1000, rate),
        *budgets.path_verdicts(probes, p50),
    ]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (%(default)s)")
    parser.add_argument(
        "--messages", type=int, default=20, help="messages per client, one after another"
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="an already running server, e.g. ws://127.0.0.1:8080/")
    target.add_argument(
        "--echo", action="store_true", help="run against bench/echo_server.py (the ceiling)"
    )
    parser.add_argument("--output", type=Path, help="append the results to this Markdown file")
    parser.add_argument(
        "--budget",
        action="store_true",
        help="also time each path's first delta; exit 1 when over budget (bench/budgets.py)",
    )
    parser.add_argument("--connect-timeout", type=float, default=15.0, help="seconds per client")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds for startup")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole load")
    arguments = parser.parse_args(argv)
    if arguments.budget and arguments.echo:
        parser.error("--budget measures the gateway, not the echo server")
    if arguments.url and not arguments.url.startswith("ws://127.0.0.1"):
        # Load is only ever put on this machine.
        parser.error("--url must be a ws://127.0.0.1 address")
    return arguments


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_arguments())))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)
