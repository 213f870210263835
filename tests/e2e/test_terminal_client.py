"""``chatbot chat`` as a subprocess with stdin piped, over a real socket to the local gateway."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.engine.engine import ModelFactory
from chatbot.terminal.client import describe_answer
from tests.conftest import ScriptedModel, scripted

pytestmark = pytest.mark.e2e

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"
# 300 words at 50 a second: an answer takes about 6 s, long enough to interrupt.
ANSWER = " ".join(f"word{n}" for n in range(300))


@pytest.fixture
def model_for() -> ModelFactory:
    return scripted(ScriptedModel(default=ANSWER, pause=0.02, words_per_fragment=1))


async def start_chat(url: str, state: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(LAMBDA_DIR), "CHATBOT_STATE_DIR": str(state)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatbot.cli",
        "chat",
        url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def chat(url: str, state: Path, stdin: str) -> str:
    process = await start_chat(url, state)
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_piped_questions_are_answered_and_a_second_run_resumes_the_session(
    ws_url: str, gateway: LocalGateway, tmp_path: Path
) -> None:
    first = await chat(ws_url, tmp_path, "hello there\n")
    assert first.splitlines()[0].startswith("New session ")
    session_id = first.splitlines()[0].removeprefix("New session ")
    assert ANSWER in first
    assert "Path: Conversation" in first

    saved = tmp_path / "terminal-session.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert json.loads(saved.read_text())[ws_url]["sessionId"] == session_id

    second = await chat(ws_url, tmp_path, "and again\n")
    assert second.splitlines()[0] == f"Resumed session {session_id}"
    assert gateway.runtime is not None
    history = gateway.runtime.conversations.history(session_id, limit=10)
    assert [r.content for r in history if r.messageType == "user"] == ["hello there", "and again"]

    third = await chat(ws_url, tmp_path, "/new\nfresh start\n")
    fresh = third.splitlines()[1].removeprefix("New session ")
    assert fresh != session_id
    assert json.loads(saved.read_text())[ws_url]["sessionId"] == fresh


async def test_ctrl_c_mid_answer_cancels_it_and_the_stored_answer_is_stopped(
    ws_url: str, gateway: LocalGateway, tmp_path: Path
) -> None:
    process = await start_chat(ws_url, tmp_path)
    assert process.stdin is not None and process.stdout is not None
    header = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    session_id = header.strip().removeprefix("New session ")
    process.stdin.write(b"tell me everything\n")
    await process.stdin.drain()
    await asyncio.wait_for(process.stdout.read(20), 30)  # the answer is streaming
    process.send_signal(signal.SIGINT)
    rest = b""
    while b"Path: " not in rest:
        rest += await asyncio.wait_for(process.stdout.read(4096), 30)
    process.stdin.close()
    await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
    assert b"[stopped]" in rest
    assert gateway.runtime is not None
    [question] = [
        r
        for r in gateway.runtime.conversations.history(session_id, limit=10)
        if r.messageType == "user"
    ]
    answer = gateway.runtime.conversations.get(session_id, question.messageId, "assistant")
    assert answer is not None and answer.stopped is True
    assert 0 < len(answer.content) < len(ANSWER)


def test_an_answer_is_followed_by_its_numbered_sources_path_and_tools() -> None:
    message = {
        "queryType": "rag",
        "sources": ["docs/pumps.md", "docs/valves.md"],
        "citations": [
            {"id": "1", "source": "docs/pumps.md", "score": 0.9, "excerpt": "..."},
            {"id": "2", "source": "docs/valves.md", "score": 0.8, "excerpt": "..."},
        ],
        "toolsUsed": [],
    }
    assert describe_answer(message) == [
        "Sources:",
        "  [1] docs/pumps.md",
        "  [2] docs/valves.md",
        "Path: Documents",
    ]
    tools = {"queryType": "mcp_tool", "sources": [], "toolsUsed": ["list_records"]}
    assert describe_answer(tools) == ["Path: Tools (tools: list_records)"]
    stopped = {"queryType": "general", "sources": [], "toolsUsed": [], "stopped": True}
    assert describe_answer(stopped) == ["[stopped]", "Path: Conversation"]
