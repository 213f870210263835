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
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import budgets
from gateway_target import Target
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException
from websockets.version import version as websockets_version

from chatbot.analytics_report import percentile


@dataclass
class Results:
    connect_s: list[float] = field(default_factory=list)
    ack_s: list[float] = field(default_factory=list)
    # Acks of the clients' first messages (all sent at once at the start line), and the rest.
    ack_first_s: list[float] = field(default_factory=list)
    ack_later_s: list[float] = field(default_factory=list)
    first_delta_s: list[float] = field(default_factory=list)
    # The path of each answer (the final message's queryType).
    paths: Counter[str] = field(default_factory=Counter)
    answer_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    load_seconds: float = 0.0


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
                (results.ack_later_s if number else results.ack_first_s).append(
                    time.perf_counter() - sent
                )
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
    probes: list[budgets.PathProbe] = []
    if arguments.budget:
        probes = await _probe_paths(arguments)
    target = Target(echo=arguments.echo) if arguments.url is None else None
    name = arguments.url or (target.name if target else "")
    try:
        if target is not None:
            url = await target.start(arguments.start_timeout, lifetime=arguments.timeout + 60)
        else:
            url = arguments.url
        results = await run_load(
            url, arguments.clients, arguments.messages, arguments.connect_timeout, arguments.timeout
        )
    finally:
        if target is not None:
            await target.stop()
    row = table_row(name, arguments.clients, arguments.messages, results)
    notes = _notes(results, target)
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


def _p50_p99(values: list[float]) -> str:
    return f"{_ms(_percentile(values, 50))}/{_ms(_percentile(values, 99))}"


def _notes(results: Results, target: Target | None) -> list[str]:
    """What the table does not show: the opening burst's acks apart, paths, query batches."""
    notes = [
        f"ack p50/p99 ms of the first messages (every client at once): "
        f"{_p50_p99(results.ack_first_s)}; of the later ones: {_p50_p99(results.ack_later_s)}"
    ]
    if target is not None and not target.echo:
        paths = ", ".join(f"{path} {count}" for path, count in sorted(results.paths.items()))
        notes.append(
            f"first delta p50/p99 ms under load: {_p50_p99(results.first_delta_s)}; "
            f"answers by path: {paths or '-'}"
        )
        notes.append(budgets.describe_batches(budgets.query_batch_lines(target.output())))
    return notes


async def _probe_paths(arguments: argparse.Namespace) -> list[budgets.PathProbe]:
    """Each path's first delta from one client, on a gateway of its own with documents to
    search (the load runs on an empty state dir, as every recorded run before it did)."""
    target = Target(echo=False, ingest=budgets.BUDGET_DOCUMENTS)
    try:
        url = await target.start(arguments.start_timeout, lifetime=arguments.timeout + 60)
        return await budgets.probe_paths(url, arguments.connect_timeout)
    finally:
        await target.stop()


def _verdicts(
    clients: int, results: Results, probes: list[budgets.PathProbe]
) -> list[budgets.Verdict]:
    rate = len(results.answer_s) / results.load_seconds if results.load_seconds else 0.0
    p50 = {probe.path: _percentile(probe.first_delta_s, 50) * 1000 for probe in probes}
    return [
        *budgets.load_verdicts(clients, _percentile(results.ack_later_s, 99) * 1000, rate),
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
