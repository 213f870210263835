"""Fuzz the WebSocket handler: N random and hostile frames, none may crash it or change a thing.

Each frame goes through chatbot.handlers.websocket.handle_event, the code the Lambda function
and the local gateway run, with a ChatService built by chatbot.runtime on a temporary state
folder (the way tests/integration/test_websocket_fuzz.py builds it). Frames come from a seeded
random.Random, so a run is repeatable: ``--seed`` picks the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbot.adapters.local import events
from chatbot.clock import SystemClock
from chatbot.config import Settings
from chatbot.evaluation.results_log import append_section
from chatbot.handlers import websocket
from chatbot.ports import EngineRequest
from chatbot.protocol import ACTIONS, MAX_NESTING_DEPTH
from chatbot.runtime import Runtime, build_chat_service, runtime_from_settings

CONNECTION = "benchfuzz01="
COMMON = {
    "domain_name": "localhost",
    "source_ip": "127.0.0.1",
    "connected_at_ms": 1_700_000_000_000,
    "request_time_ms": 1_700_000_000_500,
}
MAX_FRAME_BYTES = 128 * 1024
# The protocol's codes for a frame that is wrong in itself.
FRAME_ERRORS = {"INVALID_MESSAGE", "UNKNOWN_ACTION", "MESSAGE_TOO_LARGE"}
# Answers a read-only frame that is valid may draw.
READ_ONLY_ACTIONS = ("ping", "getSession", "getHistory")
ODD_TEXT = [
    "\ud800",  # a lone surrogate (json.dumps writes it as an escape)
    "\udfff\ud800",
    "\u0000",
    "\u202e\u2066",  # bidi overrides
    "\ufeff",
    "\U0010ffff",
    "\u0301" * 50,  # combining marks with nothing to combine with
    "\u2028\u2029",
    "👩‍👩‍👧‍👦" * 20,
    "' OR 1=1 --",
    '"}]\\',
    "%s%n%x",
    "../../etc/passwd",
    "\x1b[31m",
]


# --- the handler under test -------------------------------------------------------------


class Sender:
    """The @connections port: keeps what the handler answers."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed = 0

    def post(self, connection_id: str, data: str) -> None:
        self.frames.append(data)

    def delete(self, connection_id: str) -> None:
        self.closed += 1


class Invoker:
    """The engine port: counts what would reach the model (no valid question is generated)."""

    def __init__(self) -> None:
        self.requests = 0

    def invoke(self, request: EngineRequest) -> None:
        self.requests += 1


@dataclass
class Target:
    runtime: Runtime
    service: Any
    sender: Sender
    invoker: Invoker


def build_target(state: Path) -> Target:
    settings = Settings(
        CHATBOT_STATE_DIR=state,
        RATE_LIMIT_PER_MINUTE=10**6,
        MESSAGES_PER_IP_PER_MINUTE=0,
        MAX_FRAME_BYTES=MAX_FRAME_BYTES,
    )
    runtime = runtime_from_settings(settings)
    sender, invoker = Sender(), Invoker()
    service = build_chat_service(runtime, sender, invoker)
    connect = events.connect_event(CONNECTION, query={}, headers={}, **COMMON)
    if websocket.handle_event(connect, service).get("statusCode") != 200:
        raise SystemExit("$connect was refused: the fuzzer has no session to work on")
    return Target(runtime, service, sender, invoker)


def snapshot(runtime: Runtime) -> tuple[Any, list[Any]]:
    """The session record and every conversation record of the session."""
    binding = runtime.tables.connections.get({"connectionId": CONNECTION})
    assert binding is not None
    return session_snapshot(runtime, binding["sessionId"])


def session_snapshot(runtime: Runtime, session_id: str) -> tuple[Any, list[Any]]:
    session = runtime.tables.sessions.get({"sessionId": session_id})
    history = runtime.tables.conversations.query(session_id)
    return session, history.items


# --- frame generators: each returns (class, frame, whether the protocol refuses it) ------


def _text(rng: random.Random, most: int = 40) -> str:
    choice = rng.random()
    if choice < 0.3:
        return "".join(rng.choice(ODD_TEXT) for _ in range(rng.randint(1, 4)))
    if choice < 0.6:
        return "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, most)))
    alphabet = "abcXYZ019_-. /\\\"'{}[]:"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**64), 10**40, rng.randint(-1000, 1000)])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, 5e-324, math.inf, -math.inf, math.nan])
    if kind in (4, 5, 6):
        return _text(rng)
    if kind in (7, 8):
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng, 10): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _valid(action: str, rng: random.Random) -> dict[str, Any]:
    message_id = f"m{rng.randint(0, 10**9)}"
    frame: dict[str, Any] = {"action": action}
    if action == "sendMessage":
        frame |= {"messageId": message_id, "content": "What is the gateway?"}
        if rng.random() < 0.5:
            frame["timestamp"] = "2024-05-01T10:00:00Z"
    elif action == "getHistory":
        frame |= {"limit": rng.randint(1, 100)}
        if rng.random() < 0.5:
            frame["before"] = message_id
    elif action == "feedback":
        frame |= {"messageId": message_id, "rating": rng.choice(["up", "down"])}
        if rng.random() < 0.5:
            frame["comment"] = "fine"
    return frame


def _wrong_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            7,
            -1,
            1.5,
            [],
            ["x"],
            {},
            {"a": 1},
            "",
            "   ",
            "x" * rng.choice([65, 1001, 8001, 20_000]),
            _text(rng),
            rng.choice(ODD_TEXT),
            "5",
            "2024-13-45T99:99:99",
        ]
    )


# The fields each action needs, with the mutation that is certain to break them.
REQUIRED = {"sendMessage": ("messageId", "content"), "feedback": ("messageId", "rating")}
# The fields whose breaking mutation makes a frame of the action invalid.
BREAKABLE = {
    "sendMessage": ("messageId", "content", "timestamp", "messageType", "sessionId", "action"),
    "feedback": ("messageId", "rating", "comment", "action"),
    "getHistory": ("limit", "before", "action"),
}
BREAKING: dict[str, Callable[[random.Random], Any]] = {
    "messageId": lambda rng: rng.choice(["", "a b", "x" * 65, "é", 5, None, ["m1"], "m1\n"]),
    "content": lambda rng: rng.choice(["", "   \n\t", "x" * 8001, 1, None, ["hi"], {"t": "hi"}]),
    "rating": lambda rng: rng.choice(["UP", "", "meh", 1, None, True]),
    "limit": lambda rng: rng.choice([0, 101, -5, "5", 1.0, None, True, 10**30]),
    "before": lambda rng: rng.choice(["", "a/b", "x" * 65, 3, ["m"]]),
    "comment": lambda rng: rng.choice(["x" * 1001, 5, ["c"], {"c": 1}]),
    "timestamp": lambda rng: rng.choice(["yesterday", "", "2024-13-45", 1714557600, "\ud800"]),
    "messageType": lambda rng: rng.choice(["system", "assistant", "", 0, None]),
    "sessionId": lambda rng: rng.choice([5, ["s"], {"s": 1}, True]),
}


def mutated_action(rng: random.Random) -> tuple[str, str | bytes, bool]:
    """A valid frame of one action with its fields mutated. sendMessage and feedback always
    get at least one breaking mutation (a valid one would store a question or a rating)."""
    action = rng.choice((*ACTIONS, "cancel", "listSessions"))
    frame = _valid(action, rng)
    fields = [name for name in frame if name != "action"]
    must_break = action in REQUIRED
    refused = action not in ACTIONS  # cancel and listSessions: UNKNOWN_ACTION here
    for _ in range(rng.randint(0, 3)):
        mutation = rng.randint(0, 4)
        name = rng.choice(fields or ["extra"])
        if mutation == 0:
            frame[name] = _wrong_value(rng)  # may or may not break the rule
        elif mutation == 1:
            frame[_text(rng, 12) or "k"] = _json_value(rng)  # unknown fields are ignored
        elif mutation == 2:
            frame[rng.choice(list(BREAKING))] = _json_value(rng)
        elif mutation == 3 and name in frame:
            frame[name] = rng.choice(ODD_TEXT) + str(frame[name])
        else:
            frame.pop(name, None)
    if must_break or rng.random() < 0.5:
        name = rng.choice(BREAKABLE.get(action, ("action",)))
        if name == "action":
            frame["action"] = rng.choice([action.upper(), action + " ", 5, None, [action]])
        elif rng.random() < 0.3 and name in REQUIRED.get(action, ()):
            frame.pop(name, None)
        else:
            frame[name] = BREAKING[name](rng)
        refused = True
    return f"action {action}", _dumps(frame, rng), refused


def _dumps(value: Any, rng: random.Random) -> str | bytes:
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
    # Binary frames carry the same JSON as UTF-8.
    return text.encode("utf-8", "surrogatepass") if rng.random() < 0.2 else text


def on_the_wire(frame: str | bytes) -> str | bytes:
    """What a socket can deliver: a text frame is valid UTF-8, so a string holding a lone
    surrogate (raw, not a JSON escape) can only arrive as the bytes of a binary frame."""
    if isinstance(frame, str):
        try:
            frame.encode()
        except UnicodeEncodeError:
            return frame.encode("utf-8", "surrogatepass")
    return frame


def random_bytes(rng: random.Random) -> tuple[str, str | bytes, bool]:
    return "random bytes", rng.randbytes(rng.randint(0, 400)), True


def random_text(rng: random.Random) -> tuple[str, str | bytes, bool]:
    return "random text", _text(rng, 200), True


def json_not_object(rng: random.Random) -> tuple[str, str | bytes, bool]:
    value = _json_value(rng)
    while isinstance(value, dict):
        value = _json_value(rng)
    return "JSON not an object", _dumps(value, rng), True


def random_object(rng: random.Random) -> tuple[str, str | bytes, bool]:
    frame = {_text(rng, 10): _json_value(rng) for _ in range(rng.randint(0, 6))}
    if rng.random() < 0.7:
        frame["action"] = rng.choice([_text(rng, 20), _json_value(rng)])
    refused = frame.get("action") not in READ_ONLY_ACTIONS
    return "random object", _dumps(frame, rng), refused


def deep_nesting(rng: random.Random) -> tuple[str, str | bytes, bool]:
    depth = rng.choice([MAX_NESTING_DEPTH + 1, rng.randint(33, 200), 1000, 5000, 50_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")])
    inner = opener * depth + "1" + closer * depth
    if rng.random() < 0.5:
        inner = '{"action":"sendMessage","messageId":"n1","content":' + inner + "}"
    if rng.random() < 0.3:
        inner = inner[: rng.randint(0, len(inner))]  # truncated: never closed
    return "deep nesting", inner, True


def oversized(rng: random.Random) -> tuple[str, str | bytes, bool]:
    size = rng.choice([MAX_FRAME_BYTES + 1, rng.randint(MAX_FRAME_BYTES + 1, 1024 * 1024)])
    body = '{"action":"sendMessage","messageId":"big","content":"'
    frame = body + "x" * (size - len(body) - 2) + '"}'
    return "oversized", frame.encode() if rng.random() < 0.5 else frame, True


GENERATORS: list[tuple[Callable[[random.Random], tuple[str, str | bytes, bool]], int]] = [
    (random_bytes, 15),
    (random_text, 10),
    (json_not_object, 10),
    (random_object, 15),
    (mutated_action, 40),
    (deep_nesting, 7),
    (oversized, 3),
]


# --- the run ------------------------------------------------------------------------------


@dataclass
class Tally:
    frames: int = 0
    seconds: float = 0.0
    crashes: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    answered_otherwise: Counter[str] = field(default_factory=Counter)
    # Frames the protocol refuses that drew no error, or no reply, or more than one.
    wrong_answers: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)


def seeded_frames(frames: int, seed: int) -> Iterator[tuple[str, str | bytes, bool]]:
    """``frames`` frames as they go on the wire: (class, frame, whether it is refused)."""
    rng = random.Random(seed)
    generators = [generator for generator, _ in GENERATORS]
    weights = [weight for _, weight in GENERATORS]
    for _ in range(frames):
        generator = rng.choices(generators, weights)[0]
        kind, generated, refused = generator(rng)
        yield kind, on_the_wire(generated), refused


def fuzz(target: Target, frames: int, seed: int) -> Tally:
    tally = Tally()
    started = time.perf_counter()
    for kind, frame, refused in seeded_frames(frames, seed):
        tally.classes[kind] += 1
        target.sender.frames.clear()
        try:
            event = events.message_event(CONNECTION, frame, **COMMON)
            result = websocket.handle_event(event, target.service)
        except Exception as error:  # a crash is what is being counted
            tally.crashes[f"{kind}: {type(error).__name__}"] += 1
            continue
        if result.get("statusCode") != 200:
            tally.crashes[f"{kind}: status {result.get('statusCode')}"] += 1
            continue
        replies = [json.loads(data) for data in target.sender.frames]
        if len(replies) != 1:
            tally.wrong_answers[f"{kind}: {len(replies)} replies"] += 1
            continue
        [reply] = replies
        if reply.get("type") == "error":
            code = str(reply.get("code"))
            tally.error_codes[code] += 1
            if code not in FRAME_ERRORS:
                tally.wrong_answers[f"{kind}: {code}"] += 1
        else:
            tally.answered_otherwise[str(reply.get("type"))] += 1
            if refused:
                tally.wrong_answers[f"{kind}: {reply.get('type')} to a bad frame"] += 1
        tally.frames += 1
    tally.seconds = time.perf_counter() - started
    return tally


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counter.most_common()) or "0"


def report(tally: Tally, frames: int, seed: int, unchanged: bool, target: Target) -> str:
    crashes = sum(tally.crashes.values())
    rows = [
        ("frames sent", f"{frames:,} (seed {seed})"),
        ("crashes (exception out of handle_event, or status != 200)", f"{crashes:,}"),
        ("answered with a protocol `error`, by code", _counts(tally.error_codes)),
        ("answered otherwise (valid read-only frames)", _counts(tally.answered_otherwise)),
        (
            "wrong answers (no error for a bad frame, not one reply, other code)",
            _counts(tally.wrong_answers),
        ),
        ("frames/s", f"{frames / tally.seconds:,.0f} ({tally.seconds:.1f} s)"),
        ("session record and history unchanged", "yes" if unchanged else "**no**"),
        (
            "engine invocations / connections closed",
            f"{target.invoker.requests} / {target.sender.closed}",
        ),
    ]
    lines = ["| measure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += ["", f"Frames by class: {_counts(tally.classes)}."]
    if tally.crashes:
        lines += ["", f"Crashes by frame class: {_counts(tally.crashes)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames to send")
    parser.add_argument("--seed", type=int, default=13, help="random.Random seed")
    parser.add_argument("--output", type=Path, help="append the results to this Markdown file")
    parser.add_argument(
        "--socket",
        action="store_true",
        help="send the frames over a real WebSocket to the local gateway (bench/fuzz_socket.py)",
    )
    arguments = parser.parse_args(argv)
    # One warning per refused frame would be most of the run's time; errors still show.
    for name in list(logging.root.manager.loggerDict):
        if name == "chatbot" or name.startswith("chatbot."):
            logging.getLogger(name).setLevel(logging.ERROR)
    if arguments.socket:
        return _over_socket(arguments)
    with tempfile.TemporaryDirectory(prefix="chatbot-fuzz-") as folder:
        target = build_target(Path(folder) / "state")
        before = snapshot(target.runtime)
        tally = fuzz(target, arguments.frames, arguments.seed)
        unchanged = snapshot(target.runtime) == before
        text = report(tally, arguments.frames, arguments.seed, unchanged, target)
    print(text)
    if arguments.output:
        command = "python bench/fuzz.py " + shlex.join(sys.argv[1:])
        append_section(
            arguments.output,
            f"`{command}`\n\n{text}",
            title="Fuzzing the WebSocket handler",
            command="bench/fuzz.py",
            when=SystemClock().now(),
        )
    failed = tally.crashes or tally.wrong_answers or not unchanged or target.invoker.requests
    return 1 if failed else 0


def _over_socket(arguments: argparse.Namespace) -> int:
    from fuzz_socket import fuzz_over_socket, socket_failed, socket_report

    # The gateway's loggers exist now: its INFO line a request would be most of the run too.
    for name in list(logging.root.manager.loggerDict):
        if name == "chatbot" or name.startswith("chatbot."):
            logging.getLogger(name).setLevel(logging.ERROR)
    frames = seeded_frames(arguments.frames, arguments.seed)
    tally = asyncio.run(fuzz_over_socket(frames, session_snapshot))
    text = socket_report(tally, arguments.seed)
    print(text)
    if arguments.output:
        command = "python bench/fuzz.py " + shlex.join(sys.argv[1:])
        append_section(
            arguments.output,
            f"`{command}` (over a real socket)\n\n{text}",
            title="Fuzzing the WebSocket handler",
            command="bench/fuzz.py",
            when=SystemClock().now(),
        )
    return 1 if socket_failed(tally) else 0


if __name__ == "__main__":
    sys.exit(main())
