"""kill -9 of `chatbot serve` mid-answer: after a restart, the user's resend answers once.

The server is the real one, a child process on a free port, with the offline model slowed
down (a pause after each delta, patched in the child, the product code unchanged) so that it
can be killed between two deltas. The answer's lease is short (2 s, renewed every second):
once it lapsed nobody works on the question, and the resend is the user's retry.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.clock import SystemClock
from chatbot.config import Settings
from chatbot.conversations import ConversationStore
from tests.e2e.conftest import ChatClient
from tests.e2e.served import ServerProcess

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 2
QUESTION = "Hello, how are you doing today?"
SEND = {"action": "sendMessage", "messageId": "m1", "content": QUESTION}
# `chatbot serve`, with the offline model pausing CRASH_TEST_DELTA_PAUSE seconds after each
# delta of an answer (not the router's one-word classification).
_SLOW_SERVE = """
import asyncio, os, sys
from chatbot.engine import offline_model

pause = float(os.environ["CRASH_TEST_DELTA_PAUSE"])
stream = offline_model.OfflineModel.stream

async def slow_stream(self, *args, **kwargs):
    async for event in stream(self, *args, **kwargs):
        yield event
        if "contentBlockDelta" in event and self.get_config().get("route") != "router":
            await asyncio.sleep(pause)

offline_model.OfflineModel.stream = slow_stream
from chatbot.cli import main
sys.exit(main(sys.argv[1:]))
"""


class SlowServer(ServerProcess):
    """`chatbot serve` started through ``_SLOW_SERVE``, with a short answer lease."""

    def __init__(self, state_dir: Path, *, delta_pause: float) -> None:
        super().__init__(
            state_dir,
            env={
                "ANSWER_LEASE_SECONDS": str(LEASE_SECONDS),
                "ANSWER_LEASE_RENEW_SECONDS": "1",
                "CRASH_TEST_DELTA_PAUSE": str(delta_pause),
            },
            program=("-c", _SLOW_SERVE),
        )

    def ws_url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/{query}"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def started(state_dir: Path) -> Iterator[list[SlowServer]]:
    """Every server the test starts; any still running is stopped afterwards."""
    servers: list[SlowServer] = []
    yield servers
    for server in servers:
        if server.process.poll() is None:
            server.stop()


def _start(started: list[SlowServer], state_dir: Path, delta_pause: float) -> SlowServer:
    server = SlowServer(state_dir, delta_pause=delta_pause)
    started.append(server)
    server.wait_until_ready(timeout_s=30)
    return server


def _stored(state_dir: Path, session_id: str, message_id: str) -> tuple[str | None, list[Any]]:
    """The question's status and every stored answer to it, read from the server's store."""
    clock = SystemClock()
    store = SQLiteTables(Settings(CHATBOT_STATE_DIR=state_dir).sqlite_path, clock=clock)
    try:
        conversations = ConversationStore(
            store.tables().conversations, retention=timedelta(days=1), clock=clock
        )
        question = conversations.get(session_id, message_id, "user")
        history = conversations.history(session_id, limit=50)
    finally:
        store.close()
    answers = [r for r in history if r.messageId == message_id and r.messageType == "assistant"]
    return (question.status if question else None), answers


async def test_after_a_kill_9_mid_answer_and_a_restart_a_resend_past_the_lease_answers_once(
    started: list[SlowServer], state_dir: Path
) -> None:
    first = _start(started, state_dir, delta_pause=0.5)
    async with websockets.connect(first.ws_url(), open_timeout=10) as connection:
        client = ChatClient(connection)
        session = await client.session()
        await client.send(SEND)
        assert (await client.expect("ack"))["messageId"] == "m1"
        delta = await client.expect("delta")
        assert delta["messageId"] == "m1"
        first.stop(signal.SIGKILL)
        killed_at = time.monotonic()
    assert first.process.returncode == -signal.SIGKILL
    status, answers = _stored(state_dir, session["sessionId"], "m1")
    assert (status, answers) == ("pending", []), "the kill came after the answer"

    second = _start(started, state_dir, delta_pause=0.05)
    resume = f"?sessionId={session['sessionId']}&sessionToken={session['sessionToken']}"
    async with websockets.connect(second.ws_url(resume), open_timeout=10) as connection:
        client = ChatClient(connection)
        resumed = await client.session()
        assert (resumed["sessionId"], resumed["resumed"]) == (session["sessionId"], True)
        # Past the lease the dead engine last renewed (at most LEASE_SECONDS before the kill).
        await asyncio.sleep(max(0.0, killed_at + LEASE_SECONDS + 0.5 - time.monotonic()))

        await client.send(SEND)
        try:
            frames = await client.until_final("m1")
        except TimeoutError:
            pytest.fail(f"the resend got no final message or error, only {client.frames[1:]}")
        assert frames[0]["type"] == "ack" and frames[0]["duplicate"] is True
        finals = [f for f in frames if f["type"] in ("message", "error")]
        assert [f["type"] for f in finals] == ["message"], finals
        answer = finals[0]
        deltas = [f["content"] for f in frames if f["type"] == "delta"]
        assert deltas and "".join(deltas) == answer["content"]
        assert QUESTION in answer["content"]
        # No second answer trails in: the next frame is the pong of a ping sent now.
        await client.ping()
        assert [f for f in client.frames if f["type"] == "message"] == [answer]

        status, answers = _stored(state_dir, session["sessionId"], "m1")
        assert status == "answered"
        assert [a.content for a in answers] == [answer["content"]]

        # A second resend is a plain duplicate: the stored answer, nothing generated.
        again = await client.ask("m1", QUESTION)
        assert [f["type"] for f in again] == ["ack", "message"]
        assert again[0]["duplicate"] is True
        assert json.dumps(again[1], sort_keys=True) == json.dumps(answer, sort_keys=True)
    status, answers = _stored(state_dir, session["sessionId"], "m1")
    assert (status, len(answers)) == ("answered", 1)
