"""Model providers and prices chosen by settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from strands.models.bedrock import BedrockModel
from strands.models.ollama import OllamaModel
from strands.models.openai import OpenAIModel

from chatbot.config import Settings
from chatbot.engine.factory import answer_policy
from chatbot.engine.model_providers import model_factory, model_id_of
from chatbot.engine.offline_model import OfflineModel
from chatbot.engine.pricing import FREE, Price, price_of
from chatbot.records import QueryType


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(CHATBOT_STATE_DIR=tmp_path, **values)  # type: ignore[arg-type]


def test_offline_is_the_default_and_costs_nothing(tmp_path: Path) -> None:
    chosen = settings(tmp_path)
    model = model_factory(chosen)(QueryType.RAG)
    assert isinstance(model, OfflineModel)
    assert model_id_of(chosen) == "offline"
    assert answer_policy(chosen).price == FREE


def test_bedrock_gets_the_model_region_guardrail_and_no_client_retries_of_its_own(
    tmp_path: Path,
) -> None:
    chosen = settings(
        tmp_path,
        CHATBOT_MODEL="bedrock",
        BEDROCK_REGION="eu-west-1",
        BEDROCK_GUARDRAIL_ID="gr-123",
        BEDROCK_GUARDRAIL_VERSION="2",
        MODEL_MAX_TOKENS=512,
    )
    model = model_factory(chosen)(QueryType.GENERAL)
    assert isinstance(model, BedrockModel)
    config = model.get_config()
    assert config["model_id"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert (config["guardrail_id"], config["guardrail_version"]) == ("gr-123", "2")
    assert config["max_tokens"] == 512
    assert model.client.meta.region_name == "eu-west-1"
    assert model.client.meta.config.retries["total_max_attempts"] == 1
    assert answer_policy(chosen).price == Price(3.0, 15.0)


def test_without_a_guardrail_none_is_configured(tmp_path: Path) -> None:
    model = model_factory(settings(tmp_path, CHATBOT_MODEL="bedrock"))(QueryType.GENERAL)
    assert "guardrail_id" not in model.get_config()


def test_ollama_and_openai_compatible_servers(tmp_path: Path) -> None:
    ollama = model_factory(
        settings(
            tmp_path, CHATBOT_MODEL="ollama", OLLAMA_HOST="http://gpu:11434", OLLAMA_MODEL="qwen3"
        )
    )(QueryType.GENERAL)
    assert isinstance(ollama, OllamaModel)
    assert (ollama.host, ollama.get_config()["model_id"]) == ("http://gpu:11434", "qwen3")
    openai = model_factory(
        settings(tmp_path, CHATBOT_MODEL="openai", OPENAI_BASE_URL="http://vllm:8000/v1")
    )(QueryType.GENERAL)
    assert isinstance(openai, OpenAIModel)
    assert openai.client_args["base_url"] == "http://vllm:8000/v1"
    assert openai.client_args["max_retries"] == 0


def test_an_unknown_provider_is_refused_when_settings_load(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CHATBOT_MODEL"):
        settings(tmp_path, CHATBOT_MODEL="gpt")


def test_the_api_key_never_shows_in_the_settings_repr(tmp_path: Path) -> None:
    chosen = settings(tmp_path, CHATBOT_MODEL="openai", OPENAI_API_KEY="sk-very-secret")
    assert "sk-very-secret" not in repr(chosen)


@pytest.mark.parametrize(
    ("model_id", "price"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", Price(3.0, 15.0)),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", Price(0.8, 4.0)),
        ("global.anthropic.claude-opus-4-5-20251101-v1:0", Price(5.0, 25.0)),
        ("anthropic.claude-opus-4-1-20250805-v1:0", Price(15.0, 75.0)),
        ("llama3.2", FREE),
    ],
)
def test_prices_are_found_by_model_family(model_id: str, price: Price) -> None:
    assert price_of(model_id) == price


def test_price_overrides_win_and_cost_is_per_million_tokens() -> None:
    price = price_of("llama3.2", 1.0, None)
    assert price == Price(1.0, 0.0)
    assert Price(3.0, 15.0).cost(1_000, 500) == pytest.approx(0.0105)


def test_the_router_asks_the_engines_own_model_client_not_a_second_one(tmp_path: Path) -> None:
    from chatbot.engine.semantic_router import classifier_model

    chosen = settings(tmp_path, CHATBOT_MODEL="bedrock")
    model_for = model_factory(chosen)
    assert classifier_model(chosen, model_for) is model_for(QueryType.GENERAL)
