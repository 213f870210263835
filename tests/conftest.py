"""Fixtures shared by every test layer: settings on a temporary state folder, scripted models."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from strands.models.model import Model

from chatbot.config import Settings
from chatbot.engine.offline_model import split_into_deltas
from chatbot.records import QueryType

# No gateway a test starts, in this process or as `chatbot serve`, ingests the project's
# README and docs/ behind its back on its fresh state folder (chatbot.starter_corpus); the
# tests of the starter corpus turn it on for themselves.
os.environ["STARTER_CORPUS"] = "false"

# Fake credentials and region, so that nothing can ever reach a real account.
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class FakeClock:
    """The one clock a test hands every component: it moves only when the test moves it.

    It starts at a fixed moment that no test may rely on being today's date. With ``tick``,
    every ``now()`` moves it on by that much, as time passes between a system's steps.
    """

    def __init__(self, moment: datetime | None = None, *, tick: timedelta | None = None) -> None:
        self.moment = moment or datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
        self._start = self.moment
        self._tick = tick

    def now(self) -> datetime:
        moment = self.moment
        if self._tick:
            self.moment += self._tick
        return moment

    def time(self) -> float:
        return self.moment.timestamp()

    def monotonic(self) -> float:
        return (self.moment - self._start).total_seconds()

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake credentials for one test; any AWS_PROFILE of the developer's is ignored."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def rate_limit_per_minute() -> int:
    """The configured default; a test parametrizes this name to run with another limit."""
    return 30


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rate_limit_per_minute: int
) -> Settings:
    # Nothing from the developer's environment may leak into a test's configuration.
    for name in ("CHATBOT_ENV", "CHATBOT_MODEL", "RATE_LIMIT_PER_MINUTE", "CHATBOT_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return Settings(
        CHATBOT_STATE_DIR=tmp_path / "state",
        RATE_LIMIT_PER_MINUTE=rate_limit_per_minute,
        # Every test client is 127.0.0.1: the per-IP bounds (tests/e2e/test_abuse.py) would
        # otherwise stop the tests that open 50 sessions.
        SESSIONS_PER_IP_PER_MINUTE=1000,
        MESSAGES_PER_IP_PER_MINUTE=1000,
        # The engine in the test's own process, where its scripted models and patches are;
        # tests/e2e/test_engine_workers.py runs it in worker processes.
        ENGINE_WORKERS=0,
    )


@dataclass(frozen=True)
class PartialFailure:
    """A script step that streams ``text`` and then fails with ``error``."""

    text: str
    error: BaseException


class ScriptedModel(Model):
    """A Strands model whose behaviour a test scripts: text, or an exception per call.

    ``script`` items are consumed one per model call; a str is streamed as the answer, an
    exception is raised before any text. When the script runs out, ``default`` answers.
    """

    def __init__(
        self,
        script: list[str | dict[str, Any] | BaseException | PartialFailure] | None = None,
        default: str = "ok",
        pause: float = 0.0,
        words_per_fragment: int = 2,
    ) -> None:
        self.script = list(script or [])
        self.default = default
        # Seconds between streamed fragments, as a model writing at its own pace.
        self.pause = pause
        self.words_per_fragment = words_per_fragment
        self.calls: list[Any] = []
        self.system_prompts: list[str | None] = []
        # While set, every call fails with it: a model that stays down.
        self.failing: BaseException | None = None

    def update_config(self, **model_config: Any) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {"model_id": "scripted"}

    def structured_output(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        raise TypeError("not supported")

    async def stream(self, messages: Any, *args: Any, **kwargs: Any) -> AsyncIterable[Any]:
        self.calls.append(list(messages))
        self.system_prompts.append(kwargs.get("system_prompt", args[1] if len(args) > 1 else None))
        if self.failing is not None:
            raise self.failing
        step = self.script.pop(0) if self.script else self.default
        if isinstance(step, BaseException):
            raise step
        yield {"messageStart": {"role": "assistant"}}
        if isinstance(step, dict):  # a tool call: {"tool": name, "input": {...}}
            start = {"toolUse": {"toolUseId": f"call-{len(self.calls)}", "name": step["tool"]}}
            yield {"contentBlockStart": {"start": start}}
            yield {
                "contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(step["input"])}}}
            }
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
            return
        yield {"contentBlockStart": {"start": {}}}
        text = step.text if isinstance(step, PartialFailure) else step
        for number, fragment in enumerate(split_into_deltas(text, self.words_per_fragment)):
            if self.pause and number:
                await asyncio.sleep(self.pause)
            yield {"contentBlockDelta": {"delta": {"text": fragment}}}
        if isinstance(step, PartialFailure):
            raise step.error
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        yield {
            "metadata": {
                "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12},
                "metrics": {"latencyMs": 1},
            }
        }


def scripted(model: Model) -> Callable[[QueryType], Model]:
    """A model factory answering every path with one model."""
    return lambda query_type: model
