"""Which Strands model answers each path, chosen by configuration (CHATBOT_MODEL)."""

from __future__ import annotations

from strands.models.model import Model

from chatbot.config import Settings
from chatbot.engine.engine import ModelFactory
from chatbot.engine.offline_model import OfflineModel
from chatbot.records import QueryType


def model_factory(settings: Settings) -> ModelFactory:
    provider = settings.model_provider.lower()
    if provider == "offline":

        def offline(query_type: QueryType) -> Model:
            return OfflineModel(route=query_type.value)

        return offline
    if provider == "bedrock":
        # Imported here: the Bedrock provider pulls in more of boto3 than offline runs need.
        from strands.models.bedrock import BedrockModel

        model = BedrockModel(
            model_id=settings.bedrock_claude_model,
            region_name=settings.bedrock_region or settings.aws_region,
        )

        def bedrock(query_type: QueryType) -> Model:
            return model

        return bedrock
    raise ValueError(
        f"CHATBOT_MODEL must be 'offline' or 'bedrock', not {settings.model_provider!r}"
    )
