"""Soak the local gateway: hold N WebSocket connections with pings while messages flow at a
fixed rate, with abusive clients (non-readers, aborted handshakes, nested JSON, a session
flood) at the same time. Loopback only; every phase is bounded and the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import re
import shlex
import socket
import struct
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import Frame, Opcode

from chatbot.analytics_report import percentile
from chatbot.clock import SystemClock
from chatbot.evaluation.results_log import append_section

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/")
LEAKY_SETTINGS = ("CHATBOT_ENV", "CHATBOT_MODEL", "RATE_LIMIT_PER_MINUTE", "ALLOWED_ORIGINS")
# Every client is 127.0.0.1, so the per-IP limits are raised past what the run opens and sends.
# The starter corpus off: a fresh state folder would otherwise ingest README and docs/ under load.
LIMITS = {
    "SESSIONS_PER_IP_PER_MINUTE": "100000",
    "MESSAGES_PER_IP_PER_MINUTE": "100000",
    "STARTER_CORPUS": "false",
}
NESTED_FRAME = "[" * 1000 + "]" * 1000  # 2 KB, 1,000 levels deep
# A non-reader first asks questions of 7,000 characters, then asks for the history again and
# again: each reply is tens of KB, so its socket and its queue at the gateway fill in seconds.
NON_READER_QUESTIONS = 4
NON_READER_HISTORY = Frame(Opcode.TEXT, b'{"action":"getHistory","limit":100}')


@dataclass
class Figures:
    held: int = 0
    connect_failures: Counter[str] = field(default_factory=Counter)
    closed_early: Counter[str] = field(default_factory=Counter)
    ping_s: list[float] = field(default_factory=list)
    answer_s: list[float] = field(default_factory=list)
    sent: int = 0
    acked: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    abuse: Counter[str] = field(default_factory=Counter)
    rss_kb: dict[str, int] = field(default_factory=dict)


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) if match else -1


# --- the gateway, a child process --------------------------------------------------------


async def start_gateway(state_dir: str, within: float) -> tuple[asyncio.subprocess.Process, int]:
    env = {name: value for name, value in os.environ.items() if name not in LEAKY_SETTINGS}
    env |= LIMITS | {"CHATBOT_STATE_DIR": state_dir}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chatbot.cli", "serve", "--host", "127.0.0.1", "--port", "0"),
        cwd=REPO_ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None

    async def ready() -> int:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            if match := READY_LINE.search(line.decode(errors="replace")):
                return int(match.group(1))
        raise SystemExit(f"the gateway exited ({await process.wait()})")

    return process, await asyncio.wait_for(ready(), within)


async def drain(stream: asyncio.StreamReader) -> None:
    # The gateway logs every request; unread, its pipe would fill and stall it.
    while await stream.read(65536):
        pass


# --- held connections ----------------------------------------------------------------------


class Held:
    """One connection held open: pings on a timer; some also send messages."""

    def __init__(self, connection: ClientConnection, figures: Figures) -> None:
        self.connection = connection
        self.figures = figures
        self.pings: list[float] = []  # send times of pings not yet answered, in order
        self.pending: dict[str, float] = {}  # messageId -> send time, until its final frame
        self.acked: set[str] = set()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                frame = json.loads(raw)
                kind, message_id = frame.get("type"), frame.get("messageId")
                if kind == "pong" and self.pings:
                    self.figures.ping_s.append(time.perf_counter() - self.pings.pop(0))
                elif kind == "ack" and message_id in self.pending:
                    self.acked.add(message_id)
                    self.figures.acked += 1
                elif kind in ("message", "error") and message_id in self.pending:
                    started = self.pending.pop(message_id)
                    self.acked.discard(message_id)
                    if kind == "message":
                        self.figures.answered += 1
                        self.figures.answer_s.append(time.perf_counter() - started)
                    else:
                        self.figures.errors[str(frame.get("code"))] += 1
        except ConnectionClosed as closed:
            self.figures.closed_early[f"closed {closed.rcvd.code if closed.rcvd else 1006}"] += 1

    async def ping(self) -> None:
        self.pings.append(time.perf_counter())
        await self.connection.send('{"action":"ping"}')

    async def send_message(self, message_id: str) -> None:
        self.pending[message_id] = time.perf_counter()
        self.figures.sent += 1
        content = f"Load question {message_id}: what does the gateway do?"
        await self.connection.send(
            json.dumps({"action": "sendMessage", "messageId": message_id, "content": content})
        )


async def open_held(url: str, figures: Figures, within: float) -> Held | None:
    try:
        connection = await connect(url, open_timeout=within, ping_interval=None, close_timeout=2)
    except (OSError, TimeoutError, WebSocketException) as error:
        figures.connect_failures[type(error).__name__] += 1
        return None
    return Held(connection, figures)


async def pinger(held: Held, interval: float, stop: asyncio.Event, offset: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), offset)
    while not stop.is_set():
        with contextlib.suppress(ConnectionClosed):
            await held.ping()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def talker(talkers: list[Held], rate: float, stop: asyncio.Event) -> None:
    """``rate`` messages a second, round robin over the talkers, not waiting for answers."""
    number, started = 0, time.perf_counter()
    while not stop.is_set() and talkers:
        held = talkers[number % len(talkers)]
        with contextlib.suppress(ConnectionClosed):
            await held.send_message(f"load-{number}")
        number += 1
        delay = started + number / rate - time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(delay, 0))


# --- abusive clients ---------------------------------------------------------------------


def _upgrade_request(port: int) -> bytes:
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _reset(raw: socket.socket) -> None:
    """Close with an RST (linger 0), as a client that vanishes does."""
    with contextlib.suppress(OSError):
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()


async def non_reader(port: int, stop: asyncio.Event, figures: Figures) -> None:
    """Opens a WebSocket by hand, sends frames that draw large replies, and never reads."""
    loop = asyncio.get_running_loop()
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    questions = b"".join(
        Frame(Opcode.TEXT, json.dumps(question).encode()).serialize(mask=True)
        for question in (
            {"action": "sendMessage", "messageId": f"nr-{n}", "content": "why? " * 1400}
            for n in range(NON_READER_QUESTIONS)
        )
    )
    burst = NON_READER_HISTORY.serialize(mask=True) * 10
    try:
        await loop.sock_connect(raw, ("127.0.0.1", port))
        await loop.sock_sendall(raw, _upgrade_request(port))
        head = b""
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(raw, 1)
        if not head.startswith(b"HTTP/1.1 101"):
            figures.abuse["non-reader refused"] += 1
            return
        figures.abuse["non-readers opened"] += 1
        await loop.sock_sendall(raw, questions)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2)
        while not stop.is_set():
            await asyncio.wait_for(loop.sock_sendall(raw, burst), 30)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        figures.abuse["non-readers still open at the end"] += 1
    except TimeoutError:
        figures.abuse["non-readers stuck (gateway stopped reading them)"] += 1
    except OSError:
        figures.abuse["non-readers dropped by the gateway"] += 1
    finally:
        _reset(raw)


async def aborted_handshakes(port: int, stop: asyncio.Event, rate: float, figures: Figures) -> None:
    """Half of them send half the upgrade request, half the whole of it; then an RST."""
    loop = asyncio.get_running_loop()
    request = _upgrade_request(port)
    number = 0
    while not stop.is_set():
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setblocking(False)
        try:
            await loop.sock_connect(raw, ("127.0.0.1", port))
            await loop.sock_sendall(raw, request if number % 2 else request[: len(request) // 2])
            figures.abuse["aborted handshakes"] += 1
        except OSError:
            figures.abuse["aborted handshakes: connect failed"] += 1
        finally:
            _reset(raw)
        number += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1 / rate)


async def nested_sender(url: str, stop: asyncio.Event, figures: Figures) -> None:
    """A normal client sending 2 KB frames nested 1,000 deep; each must get INVALID_MESSAGE."""
    try:
        async with connect(url, open_timeout=30, ping_interval=None) as connection:
            while not stop.is_set():
                await connection.send(NESTED_FRAME)
                reply = json.loads(await asyncio.wait_for(connection.recv(), 30))
                figures.abuse[f"nested frames answered {reply.get('code', reply.get('type'))}"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)
        figures.abuse["nested-JSON clients kept to the end"] += 1
    except (OSError, TimeoutError, WebSocketException) as error:
        figures.abuse[f"nested-JSON clients dropped ({type(error).__name__})"] += 1


async def session_flood(url: str, stop: asyncio.Event, rate: float, figures: Figures) -> None:
    """New connections (each a new session) opened and closed as fast as ``rate`` allows."""

    async def one() -> None:
        try:
            async with connect(url, open_timeout=30, ping_interval=None, close_timeout=2):
                figures.abuse["flood sessions opened and closed"] += 1
        except (OSError, TimeoutError, WebSocketException) as error:
            figures.abuse[f"flood sessions refused ({type(error).__name__})"] += 1

    tasks: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        task = asyncio.ensure_future(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1 / rate)
    await asyncio.gather(*tasks)


# --- the run -----------------------------------------------------------------------------


async def run(arguments: argparse.Namespace) -> tuple[Figures, float]:
    figures = Figures()
    state = tempfile.TemporaryDirectory(prefix="chatbot-load-")
    process, port = await start_gateway(state.name, arguments.start_timeout)
    assert process.stdout is not None
    drainer = asyncio.ensure_future(drain(process.stdout))
    url = f"ws://127.0.0.1:{port}/"
    held: list[Held] = []
    try:
        await asyncio.sleep(1)
        figures.rss_kb["before"] = rss_kb(process.pid)
        gate = asyncio.Semaphore(arguments.connect_concurrency)

        async def opened() -> Held | None:
            async with gate:
                return await open_held(url, figures, arguments.connect_timeout)

        connect_started = time.perf_counter()
        held = [
            h
            for h in await asyncio.gather(*(opened() for _ in range(arguments.connections)))
            if h is not None
        ]
        connect_seconds = time.perf_counter() - connect_started
        figures.rss_kb["connections open"] = rss_kb(process.pid)

        stop = asyncio.Event()
        loops = [
            pinger(h, arguments.ping_interval, stop, i * arguments.ping_interval / len(held))
            for i, h in enumerate(held)
        ]
        loops.append(talker(held[: arguments.talkers], arguments.rate, stop))
        loops += [non_reader(port, stop, figures) for _ in range(arguments.non_readers)]
        loops += [nested_sender(url, stop, figures) for _ in range(arguments.nested)]
        loops.append(aborted_handshakes(port, stop, arguments.aborted_rate, figures))
        loops.append(session_flood(url, stop, arguments.flood_rate, figures))
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        await asyncio.sleep(arguments.seconds)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        # Answers in flight get a bounded time to arrive; an acked one that does not is lost.
        deadline = time.monotonic() + arguments.drain
        while any(h.pending for h in held) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        figures.lost = sum(len(h.acked) for h in held)
        figures.errors["no ack and no answer"] += sum(len(h.pending) - len(h.acked) for h in held)
        figures.held = sum(1 for h in held if not h.reader.done())
        figures.rss_kb["end of the hold"] = rss_kb(process.pid)
    finally:
        await asyncio.gather(*(h.connection.close() for h in held), return_exceptions=True)
        await asyncio.gather(*(h.reader for h in held), return_exceptions=True)
        if process.returncode is None:
            await asyncio.sleep(5)
            figures.rss_kb["all closed, 5 s later"] = rss_kb(process.pid)
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        drainer.cancel()
        state.cleanup()
    return figures, connect_seconds


def _ms(values: list[float], share: float) -> str:
    value = percentile(values, share)
    return "-" if value is None or math.isnan(value) else f"{value * 1000:.1f}"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counter.items()) if count) or "0"


def report(arguments: argparse.Namespace, figures: Figures, connect_seconds: float) -> str:
    limits = ", ".join(f"{name}={value}" for name, value in LIMITS.items())
    rows = [
        ("connections asked / held to the end", f"{arguments.connections:,} / {figures.held:,}"),
        ("connect failures", _counts(figures.connect_failures)),
        ("held connections closed early", _counts(figures.closed_early)),
        ("time to open them", f"{connect_seconds:.1f} s"),
        ("pings answered", f"{len(figures.ping_s):,}"),
        ("ping p50 / p99 ms", f"{_ms(figures.ping_s, 50)} / {_ms(figures.ping_s, 99)}"),
        (
            "messages sent / acked / answered",
            f"{figures.sent:,} / {figures.acked:,} / {figures.answered:,}",
        ),
        ("messages lost (acked, no final message or error)", f"{figures.lost:,}"),
        ("message errors", _counts(figures.errors)),
        ("answer p50 / p99 ms", f"{_ms(figures.answer_s, 50)} / {_ms(figures.answer_s, 99)}"),
        ("abusive clients", _counts(figures.abuse)),
        (
            "gateway RSS",
            ", ".join(f"{name} {kb / 1024:.1f} MB" for name, kb in figures.rss_kb.items()),
        ),
        ("per-IP limits set", limits),
    ]
    lines = ["| measure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--connections", type=int, default=1000, help="connections held (%(default)s)")
    add("--seconds", type=float, default=60.0, help="how long they are held (%(default)s)")
    add("--rate", type=float, default=5.0, help="messages a second in all (%(default)s)")
    add("--talkers", type=int, default=50, help="held connections that send messages")
    add("--ping-interval", type=float, default=5.0, help="seconds between one client's pings")
    add("--non-readers", type=int, default=20, help="clients that send and never read")
    add("--nested", type=int, default=5, help="clients sending 1,000-deep JSON, 5 a second")
    add("--aborted-rate", type=float, default=20.0, help="aborted handshakes a second")
    add("--flood-rate", type=float, default=20.0, help="sessions opened and closed a second")
    add("--connect-concurrency", type=int, default=50, help="handshakes in flight at once")
    add("--connect-timeout", type=float, default=30.0, help="seconds per handshake")
    add("--drain", type=float, default=30.0, help="seconds for answers in flight at the end")
    add("--start-timeout", type=float, default=120.0, help="seconds for the gateway to start")
    add("--output", type=Path, help="append the results to this Markdown file")
    arguments = parser.parse_args(argv)
    if arguments.rate <= 0 or arguments.aborted_rate <= 0 or arguments.flood_rate <= 0:
        parser.error("rates must be above 0")
    return arguments


def main() -> int:
    arguments = parse_arguments()
    figures, connect_seconds = asyncio.run(run(arguments))
    text = report(arguments, figures, connect_seconds)
    print(text)
    if arguments.output:
        command = "python bench/load.py " + shlex.join(sys.argv[1:])
        append_section(
            arguments.output,
            f"`{command}` against `chatbot serve` (a child process; RSS from "
            f"/proc/<pid>/status), offline model, fresh state folder.\n\n{text}",
            title="Load: held connections, messages and abusive clients",
            command="bench/load.py",
            when=SystemClock().now(),
        )
    healthy = figures.held == arguments.connections and figures.lost == 0
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
