"""``cancel`` over a real socket: the answer stops, and is stored and shown stopped."""

from __future__ import annotations

import pytest

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.engine.engine import ModelFactory
from tests.conftest import ScriptedModel, scripted
from tests.e2e.conftest import ChatClient

pytestmark = pytest.mark.e2e

# 400 words at 20 a second: 20 s to write in full, so a cancel lands mid-stream.
LONG_ANSWER = " ".join(f"word{n}" for n in range(400))


@pytest.fixture
def model_for() -> ModelFactory:
    return scripted(ScriptedModel(default=LONG_ANSWER, pause=0.05, words_per_fragment=1))


async def test_cancel_mid_stream_ends_with_the_text_so_far_marked_stopped_in_history(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    await client.send({"action": "sendMessage", "messageId": "m1", "content": "a long story"})
    await client.expect("ack")
    await client.expect("delta")
    await client.send({"action": "cancel", "messageId": "m1"})
    frames = await client.until_final("m1")

    final = frames[-1]
    assert final["type"] == "message" and final["stopped"] is True
    deltas = [f for f in client.frames if f["type"] == "delta"]
    assert [d["index"] for d in deltas] == list(range(len(deltas)))
    assert "".join(d["content"] for d in deltas) == final["content"]
    assert 0 < len(final["content"]) < len(LONG_ANSWER)
    assert LONG_ANSWER.startswith(final["content"])

    await client.send({"action": "getHistory"})
    history = await client.expect("history")
    question, answer = history["messages"]
    assert question["status"] == "answered"
    assert answer["stopped"] is True and answer["content"] == final["content"]
    assert gateway.runtime is not None
    stored = gateway.runtime.conversations.get(session["sessionId"], "m1", "assistant")
    assert stored is not None and stored.stopped is True


async def test_cancel_after_the_answer_changes_nothing_and_sends_nothing(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    await client.send({"action": "sendMessage", "messageId": "m1", "content": "a long story"})
    await client.expect("ack")
    await client.expect("delta")
    await client.send({"action": "cancel", "messageId": "m1"})
    first = (await client.until_final("m1"))[-1]

    await client.send({"action": "cancel", "messageId": "m1"})
    await client.ping()  # the next frame is the pong: the cancel got no reply
    await client.send({"action": "getHistory"})
    history = await client.expect("history")
    assert history["messages"][1]["content"] == first["content"]
    assert gateway.runtime is not None
    assert len(gateway.runtime.conversations.history(session["sessionId"], limit=10)) == 2


async def test_cancel_of_an_unknown_message_is_a_clear_error(client: ChatClient) -> None:
    await client.send({"action": "cancel", "messageId": "never-sent"})
    error = await client.expect("error")
    assert error["code"] == "INVALID_MESSAGE"
    assert error["messageId"] == "never-sent"
    assert error["message"] == "Cancel must name a message of this session."
    await client.ping()  # the connection stays open
