"""Hostile frames over a real TCP WebSocket to the local gateway: each refusable frame gets
the protocol's error without its input echoed and the connection stays open; a text frame
that is not UTF-8 closes it with 1007 as RFC 6455 requires; a valid message is then answered."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosedError

from chatbot.adapters.local.gateway import LocalGateway
from tests.e2e.conftest import ChatClient

# In every frame that can carry it; no reply may contain it.
MARKER = "fz-7Qx2"
FRAMES = 300
SEED = 13
OVER_LIMIT = 129 * 1024

Frame = tuple[str, str | bytes, str]


@pytest.fixture
def rate_limit_per_minute() -> int:
    # Refused frames never count against the limit, but the valid ones here must not hit it.
    return 10_000


def _invalid_json(rng: random.Random) -> Frame:
    whole = json.dumps({"action": "sendMessage", "messageId": "m1", "content": MARKER})
    cut = rng.randrange(1, len(whole) - 1)
    broken = rng.choice([whole[:cut], whole.replace(":", "", 1), f"{{{MARKER}}}", MARKER])
    return "invalid JSON", broken, "INVALID_MESSAGE"


def _not_an_object(rng: random.Random) -> Frame:
    value = rng.choice([[MARKER], MARKER, 7, None, True, 1.5, [{"action": "ping"}]])
    return "JSON not an object", json.dumps(value), "INVALID_MESSAGE"


def _wrong_types(rng: random.Random) -> Frame:
    frame: dict[str, Any] = {"action": "sendMessage", "messageId": "m-ok", "content": MARKER}
    field, value = rng.choice(
        [
            ("messageId", 12345),
            ("messageId", f"{MARKER}!*" * 10),
            ("content", [MARKER]),
            ("content", {"text": MARKER}),
            ("content", "   "),
            ("timestamp", f"{MARKER}-not-a-date"),
            ("messageType", "system"),
            ("sessionId", 42),
        ]
    )
    frame[field] = value
    if rng.random() < 0.3:
        frame = {"action": "getHistory", "limit": rng.choice([0, 101, MARKER, -1, 1.5])}
    if rng.random() < 0.2:
        frame = {"action": "feedback", "messageId": "m-ok", "rating": MARKER}
    return "wrong types", json.dumps(frame), "INVALID_MESSAGE"


def _deep(rng: random.Random) -> Frame:
    depth = rng.randrange(33, 5000)
    body = rng.choice(
        [
            "[" * depth + "]" * depth,
            '{"a":' * depth + f'"{MARKER}"' + "}" * depth,
            '{"action":"sendMessage","content":' + "[" * depth + "]" * depth + "}",
            "[" * depth,  # never closed
        ]
    )
    return "deep nesting", body, "INVALID_MESSAGE"


def _oversized(rng: random.Random) -> Frame:
    content = (MARKER * (OVER_LIMIT // len(MARKER) + 1))[: OVER_LIMIT + rng.randrange(5000)]
    frame = json.dumps({"action": "sendMessage", "messageId": "m-big", "content": content})
    return "oversized", frame, "MESSAGE_TOO_LARGE"


def _unknown_action(rng: random.Random) -> Frame:
    action = rng.choice([MARKER, f"sendMessage{MARKER}", "SENDMESSAGE", "$connect", "", "\u202e"])
    frame: dict[str, Any] = {"action": action} if rng.random() < 0.8 else {"content": MARKER}
    code = "UNKNOWN_ACTION" if "action" in frame else "INVALID_MESSAGE"
    return "unknown action", json.dumps(frame), code


def _binary(rng: random.Random) -> Frame:
    noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    data = rng.choice(
        [
            b"\xff\xfe" + MARKER.encode() + noise,  # not UTF-8
            b'{"action": "' + MARKER.encode() + b'\xc3\x28"}',  # an invalid UTF-8 sequence
            # A lone surrogate, encoded (Python's json accepts it from bytes): not content.
            b'{"action": "sendMessage", "messageId": "m-s", "content": "\xed\xa0\x80"}',
            b"\x00" * 64,
        ]
    )
    return "binary", data, "INVALID_MESSAGE"


GENERATORS: list[Callable[[random.Random], Frame]] = [
    _invalid_json,
    _not_an_object,
    _wrong_types,
    _deep,
    _oversized,
    _unknown_action,
    _binary,
]


def hostile_frames(count: int, seed: int) -> list[Frame]:
    rng = random.Random(seed)
    return [GENERATORS[n % len(GENERATORS)](rng) for n in range(count)]


async def test_hundreds_of_hostile_frames_over_a_socket_each_get_their_error_and_the_chat_goes_on(
    client: ChatClient,
) -> None:
    session = await client.session()
    classes: Counter[str] = Counter()
    for kind, frame, code in hostile_frames(FRAMES, SEED):
        await client.send(frame)
        raw = await client.connection.recv()
        assert MARKER not in str(raw), kind
        reply = json.loads(raw)
        assert (reply["type"], reply["code"]) == ("error", code), (kind, reply)
        assert reply["retryable"] is False
        classes[kind] += 1
    assert len(classes) == len(GENERATORS) and sum(classes.values()) == FRAMES
    # Still the same connection and session, with nothing stored by any of them.
    assert (await client.session())["sessionId"] == session["sessionId"]
    await client.send({"action": "getHistory"})
    assert (await client.expect("history"))["messages"] == []
    answer = await client.ask("after-the-fuzz", "What is the capital of France?")
    assert answer[0]["type"] == "ack"
    assert answer[-1]["type"] == "message" and answer[-1]["content"]


async def test_a_text_frame_that_is_not_utf8_closes_with_1007_and_the_session_resumes(
    client: ChatClient, connect: Callable[..., Any], gateway: LocalGateway
) -> None:
    session = await client.session()
    # Sent as a text frame as it is: the client does not check what it is told is text.
    await client.connection.send(b'{"action": "ping", "x": "\xff\xfe"}', text=True)
    with pytest.raises(ConnectionClosedError) as closed:
        await client.connection.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    query = f"?sessionId={session['sessionId']}&sessionToken={session['sessionToken']}"
    resumed = await connect(query)
    again = await resumed.session()
    assert (again["sessionId"], again["resumed"]) == (session["sessionId"], True)
    answer = await resumed.ask("after-1007", "Hello there")
    assert answer[-1]["type"] == "message"


async def test_a_frame_past_the_hard_cap_closes_with_1009_and_others_are_served(
    client: ChatClient, ws_url: str
) -> None:
    await client.session()
    await client.send("[" + "0," * (600 * 1024) + "0]")
    with pytest.raises(ConnectionClosedError) as closed:
        await client.connection.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with websockets.connect(ws_url) as other:
        await ChatClient(other).ping()
