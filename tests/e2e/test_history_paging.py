"""A long conversation pages back in full over a real socket, no frame over 128 KB."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.ports import MAX_OUTGOING_FRAME_BYTES
from tests.e2e import seeding
from tests.e2e.conftest import FRAME_TIMEOUT, ChatClient

pytestmark = pytest.mark.e2e

CHARS = 7_900


async def recv_sized(client: ChatClient) -> tuple[dict[str, Any], int]:
    raw = await asyncio.wait_for(client.connection.recv(), FRAME_TIMEOUT)
    size = len(raw.encode() if isinstance(raw, str) else raw)
    return json.loads(raw), size


async def page_back(client: ChatClient) -> tuple[list[dict[str, Any]], list[int]]:
    """Every message reachable by paging back from the newest; the pages' sizes in bytes."""
    request: dict[str, Any] = {"action": "getHistory"}
    messages: list[dict[str, Any]] = []
    sizes: list[int] = []
    while True:
        await client.send(request)
        page, size = await recv_sized(client)
        assert page["type"] == "history", page
        sizes.append(size)
        messages = page["messages"] + messages
        if not page["hasMore"]:
            return messages, sizes
        request = {"action": "getHistory", "before": page["messages"][0]["messageId"]}


def seed_turns(gateway: LocalGateway, session_id: str, texts: list[str]) -> None:
    """Questions and answers (each question reversed) straight into the store, as forty real
    turns would leave them."""
    assert gateway.runtime is not None
    runtime = gateway.runtime
    seeding.seed_turns(
        runtime.conversations, runtime.clock, session_id, texts, answer=lambda n, text: text[::-1]
    )


def stored_order(gateway: LocalGateway, session_id: str) -> list[tuple[str, str, str]]:
    assert gateway.runtime is not None
    records = gateway.runtime.conversations.history(session_id, limit=100)
    return [(r.messageId, r.messageType, r.content) for r in records]


def reached(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(m["messageId"], m["role"], m["content"]) for m in messages]


async def test_forty_turns_of_7900_characters_page_back_completely_within_128_kb(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    seed_turns(gateway, session["sessionId"], [f"{n:02d}" + "q" * (CHARS - 2) for n in range(37)])
    for n in range(3):
        frames = await client.ask(f"live-{n}", f"live {n} " + "w" * (CHARS - 7))
        assert frames[-1]["type"] == "message", frames[-1]

    messages, sizes = await page_back(client)

    expected = stored_order(gateway, session["sessionId"])
    assert len(expected) == 80
    assert reached(messages) == expected
    assert len(sizes) > 4, "80 messages of 7,900 characters cannot fit few frames"
    assert max(sizes) <= MAX_OUTGOING_FRAME_BYTES
    assert gateway.largest_frame_bytes <= MAX_OUTGOING_FRAME_BYTES


@pytest.mark.parametrize("character", ["😀", "語"], ids=["emoji", "cjk"])
async def test_multi_byte_conversations_page_back_completely_within_128_kb(
    client: ChatClient, gateway: LocalGateway, character: str
) -> None:
    session = await client.session()
    seed_turns(
        gateway, session["sessionId"], [f"{n:02d}" + character * (CHARS - 2) for n in range(12)]
    )
    frames = await client.ask("live", "语言 " + character * 3_000)
    assert frames[-1]["type"] == "message", frames[-1]

    messages, sizes = await page_back(client)

    assert reached(messages) == stored_order(gateway, session["sessionId"])
    assert len(messages) == 26
    assert max(sizes) <= MAX_OUTGOING_FRAME_BYTES


async def test_a_frame_over_the_gateways_limit_is_refused_and_the_client_gets_an_error(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    seed_turns(gateway, session["sessionId"], ["z" * 3_000])
    # A gateway stricter than API Gateway: the page that fits 128 KB is over its limit.
    gateway.max_outgoing_frame_bytes = 2_000

    await client.send({"action": "getHistory"})
    error = await client.expect("error")

    assert (error["code"], error["retryable"]) == ("INTERNAL_ERROR", True)
    assert "z" * 10 not in error["message"]
    await client.ping()  # the connection stays open
