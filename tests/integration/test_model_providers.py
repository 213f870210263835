"""Strands' own Bedrock, OpenAI and Ollama providers, chosen by settings, answering through the
engine from a model server on a real socket: streaming, usage and cost, retries of a busy
server, and a server that stays down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics import AnalyticsRecorder
from chatbot.config import Settings
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import ChatbotEngine
from chatbot.engine.factory import answer_policy
from chatbot.engine.model_providers import model_factory
from chatbot.ports import ConnectionGoneError, EngineRequest
from tests.conftest import FakeClock
from tests.integration.model_servers import (
    ANSWER,
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    ModelServer,
    model_server,
)


class Sender:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def post(self, connection_id: str, data: str) -> None:
        self.frames.append(json.loads(data))

    def delete(self, connection_id: str) -> None:
        raise ConnectionGoneError(connection_id)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, fake_aws_credentials: None) -> Iterator[ModelServer]:
    with model_server() as running:
        # Bedrock's client goes to the local server, signing with the fake credentials.
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", running.url)
        yield running


def settings_for(provider: str, server: ModelServer, tmp_path: Path) -> Settings:
    return Settings(
        CHATBOT_STATE_DIR=tmp_path,
        CHATBOT_MODEL=provider,
        OPENAI_BASE_URL=f"{server.url}/v1",
        OPENAI_MODEL="local-model",
        OLLAMA_HOST=server.url,
        OLLAMA_MODEL="local-model",
        BEDROCK_CLAUDE_MODEL="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        BEDROCK_REGION="us-east-1",
        BEDROCK_GUARDRAIL_ID="gr-1",
        MODEL_INPUT_PRICE_PER_MTOK=3,
        MODEL_OUTPUT_PRICE_PER_MTOK=15,
        MODEL_RETRY_BASE_SECONDS=0.01,
        MODEL_RETRY_MAX_SECONDS=0.02,
        DELTA_MAX_WAIT_MS=0,
    )


async def answer(settings: Settings, content: str) -> tuple[Any, Sender, ConversationStore]:
    clock = FakeClock()
    tables = SQLiteTables(":memory:", clock=clock).tables()
    conversations = ConversationStore(tables.conversations, timedelta(days=1), clock=clock)
    sender = Sender()
    engine = ChatbotEngine(
        conversations=conversations,
        analytics=AnalyticsRecorder(tables.analytics, timedelta(days=1), clock=clock),
        sender=sender,
        model_for=model_factory(settings),
        policy=answer_policy(settings),
        clock=clock,
    )
    conversations.add_user_message("s", "m1", content)
    result = await engine.process_message(
        EngineRequest(sessionId="s", messageId="m1", connectionId="c")
    )
    return result, sender, conversations


@pytest.mark.parametrize("provider", ["bedrock", "openai", "ollama"])
async def test_a_local_model_server_answers_through_strands_provider(
    provider: str, server: ModelServer, tmp_path: Path
) -> None:
    settings = settings_for(provider, server, tmp_path)
    result, sender, _ = await answer(settings, "Where does the answer come from?")
    assert result is not None and result.content == ANSWER
    deltas = [f for f in sender.frames if f["type"] == "delta"]
    assert len(deltas) == 7 and "".join(d["content"] for d in deltas) == ANSWER
    final = sender.frames[-1]
    assert final["type"] == "message" and final["content"] == ANSWER
    usage = final["usage"]
    assert (usage["inputTokens"], usage["outputTokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert usage["costUsd"] == pytest.approx((42 * 3 + 7 * 15) / 1e6)
    [request] = server.requests
    body = request["body"]
    assert "Where does the answer come from?" in json.dumps(body["messages"])
    if provider == "bedrock":
        assert request["path"] == (
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream"
        )
        assert body["guardrailConfig"]["guardrailIdentifier"] == "gr-1"
        assert body["inferenceConfig"]["maxTokens"] == 2048
    else:
        assert body["model"] == "local-model" and body["stream"] is True


@pytest.mark.parametrize("provider", ["bedrock", "openai"])
async def test_a_busy_server_is_retried_until_it_answers(
    provider: str, server: ModelServer, tmp_path: Path
) -> None:
    server.failures = [429, 503]
    result, sender, _ = await answer(settings_for(provider, server, tmp_path), "hello")
    assert result is not None and result.content == ANSWER
    assert len(server.requests) == 3
    assert [f["type"] for f in sender.frames].count("error") == 0


@pytest.mark.parametrize("provider", ["bedrock", "openai"])
async def test_a_server_that_stays_down_is_model_unavailable_and_the_question_is_kept(
    provider: str, server: ModelServer, tmp_path: Path
) -> None:
    server.failures = [429] * 10
    result, sender, conversations = await answer(settings_for(provider, server, tmp_path), "hi")
    assert result is None
    assert len(server.requests) == 4  # MODEL_MAX_ATTEMPTS' default
    [error] = sender.frames
    assert (error["code"], error["retryable"]) == ("MODEL_UNAVAILABLE", True)
    stored = conversations.get("s", "m1", "user")
    assert stored is not None and stored.status == "failed" and stored.content == "hi"
