"""The engine in worker processes (ENGINE_WORKERS): answers, cancel, a worker's death, shutdown.

The gateway here forks its workers from the test's own process, so they inherit the scripted
model; `chatbot serve` is run as a child process for the signals a person sends it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatbot.adapters.local.gateway import LocalGateway, local_gateway
from chatbot.config import Settings
from chatbot.engine.engine import ModelFactory
from tests.conftest import ScriptedModel, scripted
from tests.e2e.conftest import WEB_DIR, ChatClient
from tests.e2e.served import ServerProcess

pytestmark = pytest.mark.e2e

# 60 words at 20 a second: 3 s to write, so a kill or a cancel lands mid-stream.
ANSWER = " ".join(f"word{n}" for n in range(60))
GONE_WITHIN_SECONDS = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # One worker (a kill then hits the one answering); the keyword router needs no model.
    return settings.model_copy(update={"engine_workers": 1, "router_mode": "rules"})


@pytest.fixture
def model_for() -> ModelFactory:
    return scripted(ScriptedModel(default=ANSWER, pause=0.05, words_per_fragment=1))


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _wait_until(condition: Callable[[], bool], seconds: float = GONE_WITHIN_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


async def test_an_answer_is_written_by_a_worker_process_and_streamed_through_the_gateway(
    client: ChatClient, gateway: LocalGateway
) -> None:
    assert gateway.engine is None and gateway.workers is not None
    (pid,) = gateway.workers.pids
    assert pid != os.getpid() and _alive(pid)
    session = await client.session()
    frames = await client.ask("m1", "tell me a story")
    assert [f["type"] for f in frames][:2] == ["ack", "delta"]
    final = frames[-1]
    assert final["type"] == "message" and final["content"] == ANSWER
    assert "".join(f["content"] for f in frames if f["type"] == "delta") == ANSWER
    assert gateway.runtime is not None
    stored = gateway.runtime.conversations.get(session["sessionId"], "m1", "assistant")
    assert stored is not None and stored.content == ANSWER


async def test_a_cancel_reaches_the_worker_through_the_store(
    client: ChatClient, gateway: LocalGateway
) -> None:
    await client.session()
    await client.send({"action": "sendMessage", "messageId": "m1", "content": "a story"})
    await client.expect("ack")
    await client.expect("delta")
    await client.send({"action": "cancel", "messageId": "m1"})
    final = (await client.until_final("m1"))[-1]
    assert final["type"] == "message" and final["stopped"] is True
    assert 0 < len(final["content"]) < len(ANSWER)


async def test_a_worker_killed_mid_answer_ends_it_retryable_and_a_new_worker_answers_the_resend(
    client: ChatClient, gateway: LocalGateway
) -> None:
    assert gateway.workers is not None
    (first_pid,) = gateway.workers.pids
    session = await client.session()
    await client.send({"action": "sendMessage", "messageId": "m1", "content": "a story"})
    await client.expect("ack")
    await client.expect("delta")
    os.kill(first_pid, signal.SIGKILL)

    error = (await client.until_final("m1"))[-1]
    assert (error["type"], error["code"], error["retryable"]) == ("error", "INTERNAL_ERROR", True)
    assert gateway.runtime is not None
    question = gateway.runtime.conversations.get(session["sessionId"], "m1", "user")
    assert question is not None and question.status == "failed"

    # The resend is the user's retry; it waits for the new worker if that is still loading.
    final = (await client.ask("m1", "a story"))[-1]
    assert final["type"] == "message" and final["content"] == ANSWER
    (second_pid,) = gateway.workers.pids
    assert second_pid != first_pid and not _alive(first_pid)


async def test_workers_leave_when_the_gateway_stops(settings: Settings) -> None:
    gateway = local_gateway(
        settings, host="127.0.0.1", port=0, web_dir=WEB_DIR, cleanup_interval_seconds=None
    )
    await gateway.start()
    assert gateway.workers is not None
    pids = gateway.workers.pids
    assert pids and all(_alive(pid) for pid in pids)
    await gateway.stop()
    assert _wait_until(lambda: not any(_alive(pid) for pid in pids))


def _worker_pids(server: ServerProcess) -> list[int]:
    pids = []
    for line in server.output:
        if line.startswith("{") and '"engine worker ready"' in line:
            record: dict[str, Any] = json.loads(line)
            pids.append(int(record["pid"]))
    return pids


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 0), (signal.SIGTERM, 0), (signal.SIGKILL, -signal.SIGKILL)],
)
def test_no_worker_outlives_chatbot_serve(tmp_path: Path, signum: int, exit_code: int) -> None:
    server = ServerProcess(tmp_path / "state", env={"ENGINE_WORKERS": "2", "ROUTER_MODE": "rules"})
    try:
        server.wait_until_ready(120)
        # The first worker is up when the URL is printed; the second starts after it.
        _wait_until(lambda: len(_worker_pids(server)) == 2, 120)
        pids = _worker_pids(server)
        assert len(pids) == 2 and all(_alive(pid) for pid in pids), server.log()
    finally:
        code = server.stop(signum)
    assert code == exit_code, server.log()
    assert _wait_until(lambda: not any(_alive(pid) for pid in pids)), server.log()
