"""Which Strands model answers each path, chosen by configuration (CHATBOT_MODEL).

Every provider is Strands' own; this module only maps settings onto them. Each is built with
its client's own retries turned off: the engine's retry strategy (``chatbot.engine.retry``)
is the one policy, and it knows how much time the answer has left.
"""

from __future__ import annotations

from strands.models.model import Model

from chatbot.config import Settings
from chatbot.engine.engine import ModelFactory
from chatbot.engine.offline_model import OfflineModel
from chatbot.records import QueryType

# Seconds to wait for a connection and for the next streamed bytes from a model service.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 60.0


def model_factory(settings: Settings) -> ModelFactory:
    provider = settings.model_provider
    if provider == "offline":

        def offline(query_type: QueryType) -> Model:
            return OfflineModel(route=query_type.value)

        return offline
    model = _remote_model(settings)

    def remote(query_type: QueryType) -> Model:
        return model

    return remote


def model_id_of(settings: Settings) -> str:
    """The model that answers, as named in analytics and in the price table."""
    return {
        "offline": "offline",
        "bedrock": settings.bedrock_claude_model,
        "ollama": settings.ollama_model,
        "openai": settings.openai_model,
    }[settings.model_provider]


def _remote_model(settings: Settings) -> Model:
    # Each provider is imported only when chosen: their client libraries are not all installed
    # everywhere (the Lambda bundle has boto3 but neither ollama nor openai).
    if settings.model_provider == "bedrock":
        from botocore.config import Config
        from strands.models.bedrock import BedrockModel

        guardrail: dict[str, str] = {}
        if settings.bedrock_guardrail_id:
            guardrail = {
                "guardrail_id": settings.bedrock_guardrail_id,
                "guardrail_version": settings.bedrock_guardrail_version,
            }
        return BedrockModel(
            model_id=settings.bedrock_claude_model,
            region_name=settings.bedrock_region or settings.aws_region,
            max_tokens=settings.model_max_tokens,
            boto_client_config=Config(
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=READ_TIMEOUT_SECONDS,
                retries={"total_max_attempts": 1, "mode": "standard"},
            ),
            **guardrail,  # type: ignore[arg-type]
        )
    if settings.model_provider == "ollama":
        from strands.models.ollama import OllamaModel

        return OllamaModel(
            settings.ollama_host,
            model_id=settings.ollama_model,
            max_tokens=settings.model_max_tokens,
            ollama_client_args={"timeout": READ_TIMEOUT_SECONDS},
        )
    if settings.model_provider == "openai":
        from strands.models.openai import OpenAIModel

        client_args: dict[str, object] = {
            "api_key": settings.openai_api_key.get_secret_value(),
            "max_retries": 0,
            "timeout": READ_TIMEOUT_SECONDS,
        }
        if settings.openai_base_url:
            client_args["base_url"] = settings.openai_base_url
        return OpenAIModel(
            client_args=client_args,
            model_id=settings.openai_model,
            params={"max_tokens": settings.model_max_tokens},
        )
    raise ValueError(f"unknown CHATBOT_MODEL {settings.model_provider!r}")
