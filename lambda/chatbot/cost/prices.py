"""The price file: every list price the chatbot uses, each with its source and date.

One file, ``prices.yaml`` beside this module, read and checked here: the engine's token
prices (``chatbot.engine.pricing``) and the cost model (``chatbot.cost.estimate``) both come
from it, so a price changes in one place.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PRICES_FILE: Final = "prices.yaml"


class _Sourced(BaseModel):
    """Every price says where it comes from and when it was read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(pattern=r"^https://")
    as_of: date


class ModelPrice(_Sourced):
    """A language model's price, USD per million tokens."""

    family: str = Field(min_length=1)
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class EmbeddingPrice(_Sourced):
    """An embedding model's price, USD per million input tokens."""

    family: str = Field(min_length=1)
    input_per_mtok: float = Field(ge=0)


class WebSocketPrices(_Sourced):
    per_million_messages: float = Field(ge=0)
    per_million_connection_minutes: float = Field(ge=0)


class LambdaPrices(_Sourced):
    per_gb_second: float = Field(ge=0)
    per_million_requests: float = Field(ge=0)


class DynamoDBPrices(_Sourced):
    per_million_write_units: float = Field(ge=0)
    per_million_read_units: float = Field(ge=0)
    per_gb_month: float = Field(ge=0)


class LogsPrices(_Sourced):
    per_gb_ingested: float = Field(ge=0)
    per_gb_month: float = Field(ge=0)


class ServicePrices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_gateway_websocket: WebSocketPrices
    lambda_arm64: LambdaPrices
    dynamodb_on_demand: DynamoDBPrices
    cloudwatch_logs: LogsPrices


class VectorStorePrices(_Sourced):
    """A document store's rates. Each store bills differently (capacity by the hour,
    requests, storage), so its rates are its own names, read by its line in the model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1)

    def rate(self, key: str) -> float:
        value = (self.model_extra or {}).get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise KeyError(f"prices: vector store {self.name!r} has no rate {key!r}")
        return float(value)


class PriceSheet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str
    currency: str
    hours_per_month: float = Field(gt=0)
    models: tuple[ModelPrice, ...]
    embedding_models: tuple[EmbeddingPrice, ...]
    services: ServicePrices
    vector_stores: dict[str, VectorStorePrices]

    def model_price(self, model_id: str) -> ModelPrice | None:
        """The first entry whose family is in ``model_id`` (the file lists specific first)."""
        return next((entry for entry in self.models if entry.family in model_id), None)

    def embedding_price(self, model_id: str) -> EmbeddingPrice | None:
        return next((entry for entry in self.embedding_models if entry.family in model_id), None)

    def dates(self) -> list[date]:
        """The distinct dates the file's prices were read on, oldest first."""
        services = self.services
        entries: list[_Sourced] = [
            *self.models,
            *self.embedding_models,
            services.api_gateway_websocket,
            services.lambda_arm64,
            services.dynamodb_on_demand,
            services.cloudwatch_logs,
            *self.vector_stores.values(),
        ]
        return sorted({entry.as_of for entry in entries})


class PriceFileError(ValueError):
    """The price file cannot be read or does not hold what the model needs."""


def load_prices(path: Path) -> PriceSheet:
    """A price file at ``path`` (a test's, or an operator's own)."""
    try:
        return _parse(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise PriceFileError(f"cannot read {path}: {error.strerror}") from None


@lru_cache(maxsize=1)
def shipped_prices() -> PriceSheet:
    """The package's own price file, read once per process."""
    text = (resources.files("chatbot.cost") / PRICES_FILE).read_text(encoding="utf-8")
    return _parse(text, f"chatbot/cost/{PRICES_FILE}")


def _parse(text: str, where: str) -> PriceSheet:
    try:
        return PriceSheet.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise PriceFileError(f"{where} is not YAML: {error}") from None
    except ValidationError as error:
        raise PriceFileError(f"{where}: {error}") from None
