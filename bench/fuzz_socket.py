"""bench/fuzz.py's real-socket mode: the same seeded frames over one TCP WebSocket to the local
gateway (``local_gateway`` in this process, on a free port), as a hostile client sends them.

Beside what the handler mode counts, it counts closed connections by close code (a text frame
is valid UTF-8 and every frame is under the gateway's 1 MiB cap, so none should close), replies
that quote a 24-character piece of their frame, and frames that drew no reply within a second;
at the end a valid question must still be answered on the same connection.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from chatbot.adapters.local.gateway import local_gateway
from chatbot.config import Settings
from chatbot.runtime import Runtime

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
FRAME_ERRORS = {"INVALID_MESSAGE", "UNKNOWN_ACTION", "MESSAGE_TOO_LARGE"}
REPLY_SECONDS = 1.0
ANSWER_SECONDS = 30.0
ECHO_PIECE = 24

# (class, frame as it goes on the wire, whether the protocol refuses it)
Frame = tuple[str, str | bytes, bool]


@dataclass
class SocketTally:
    frames: int = 0
    seconds: float = 0.0
    error_codes: Counter[str] = field(default_factory=Counter)
    answered_otherwise: Counter[str] = field(default_factory=Counter)
    wrong_answers: Counter[str] = field(default_factory=Counter)
    closed: Counter[str] = field(default_factory=Counter)
    echoes: Counter[str] = field(default_factory=Counter)
    no_reply: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    unchanged: bool = False
    answered_after: bool = False


def _echoed(frame: str | bytes, reply: str) -> bool:
    """Whether ``reply`` quotes a piece from the middle of ``frame`` (long, varied frames only:
    a piece of brackets or of one repeated letter proves nothing)."""
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    if len(text) < 2 * ECHO_PIECE:
        return False
    middle = len(text) // 2
    piece = text[middle : middle + ECHO_PIECE]
    return len(set(piece)) > 4 and piece in reply


async def _one(
    connection: ClientConnection, kind: str, frame: str | bytes, refused: bool, tally: SocketTally
) -> bool:
    """Send one frame and judge its reply; False when the connection closed."""
    await connection.send(frame)
    try:
        raw = await asyncio.wait_for(connection.recv(), REPLY_SECONDS)
    except TimeoutError:
        tally.no_reply[kind] += 1
        return True
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else "none"
        tally.closed[f"{kind}: {code}"] += 1
        return False
    reply = json.loads(raw)
    if reply.get("type") == "error":
        code = str(reply.get("code"))
        tally.error_codes[code] += 1
        if code not in FRAME_ERRORS:
            tally.wrong_answers[f"{kind}: {code}"] += 1
        if _echoed(frame, str(raw)):
            tally.echoes[kind] += 1
    else:
        tally.answered_otherwise[str(reply.get("type"))] += 1
        if refused:
            tally.wrong_answers[f"{kind}: {reply.get('type')} to a bad frame"] += 1
    return True


async def _session(connection: ClientConnection) -> dict[str, Any]:
    await connection.send(json.dumps({"action": "getSession"}))
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), ANSWER_SECONDS))
    return frame


async def _answered(connection: ClientConnection) -> bool:
    question = {"action": "sendMessage", "messageId": "after-fuzz", "content": "Hello there"}
    await connection.send(json.dumps(question))
    deadline = time.monotonic() + ANSWER_SECONDS
    while time.monotonic() < deadline:
        frame = json.loads(await asyncio.wait_for(connection.recv(), ANSWER_SECONDS))
        if frame.get("messageId") == "after-fuzz" and frame["type"] in ("message", "error"):
            return bool(frame["type"] == "message" and frame.get("content"))
    return False


async def fuzz_over_socket(
    frames: Iterator[Frame], snapshot: Callable[[Runtime, str], Any]
) -> SocketTally:
    """Send every frame of ``frames``; ``snapshot(runtime, session_id)`` is compared before and
    after them."""
    tally = SocketTally()
    with tempfile.TemporaryDirectory(prefix="chatbot-fuzz-socket-") as folder:
        settings = Settings(
            CHATBOT_STATE_DIR=Path(folder) / "state",
            RATE_LIMIT_PER_MINUTE=10**6,
            MESSAGES_PER_IP_PER_MINUTE=0,
            SESSIONS_PER_IP_PER_MINUTE=0,
            ENGINE_WORKERS=0,
            STARTER_CORPUS=False,
        )
        gateway = local_gateway(
            settings, host="127.0.0.1", port=0, web_dir=WEB_DIR, cleanup_interval_seconds=None
        )
        await gateway.start()
        try:
            url = f"ws://127.0.0.1:{gateway.port}/"
            connection = await websockets.connect(url, max_size=None)
            session = await _session(connection)
            assert gateway.runtime is not None
            before = snapshot(gateway.runtime, session["sessionId"])
            started = time.perf_counter()
            for kind, frame, refused in frames:
                tally.classes[kind] += 1
                tally.frames += 1
                if not await _one(connection, kind, frame, refused, tally):
                    resume = (
                        f"?sessionId={session['sessionId']}&sessionToken={session['sessionToken']}"
                    )
                    connection = await websockets.connect(url + resume, max_size=None)
            tally.seconds = time.perf_counter() - started
            tally.unchanged = snapshot(gateway.runtime, session["sessionId"]) == before
            tally.answered_after = await _answered(connection)
            await connection.close()
        finally:
            await gateway.stop()
    return tally


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counter.most_common()) or "0"


def socket_report(tally: SocketTally, seed: int) -> str:
    rows = [
        ("frames sent", f"{tally.frames:,} (seed {seed}), one connection, each reply awaited"),
        ("answered with a protocol `error`, by code", _counts(tally.error_codes)),
        ("answered otherwise (valid read-only frames)", _counts(tally.answered_otherwise)),
        ("wrong answers (no error for a bad frame, other code)", _counts(tally.wrong_answers)),
        ("no reply within 1 s", _counts(tally.no_reply)),
        ("connections closed by the gateway, by class and close code", _counts(tally.closed)),
        ("error replies quoting their frame", _counts(tally.echoes)),
        ("frames/s", f"{tally.frames / tally.seconds:,.0f} ({tally.seconds:.1f} s)"),
        ("session record and history unchanged", "yes" if tally.unchanged else "**no**"),
        ("a valid question afterwards answered", "yes" if tally.answered_after else "**no**"),
    ]
    lines = ["| measure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += ["", f"Frames by class: {_counts(tally.classes)}."]
    return "\n".join(lines) + "\n"


def socket_failed(tally: SocketTally) -> bool:
    return bool(
        tally.wrong_answers
        or tally.no_reply
        or tally.closed
        or tally.echoes
        or not tally.unchanged
        or not tally.answered_after
    )
