"""The embeddings port over Bedrock Titan Text Embeddings v2: one InvokeModel per text."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from chatbot.errors import ModelUnavailableError
from chatbot.retries import TRANSIENT_ERROR_CODES, backoff_ceiling

TITAN_V2_MODEL_ID = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = frozenset({256, 512, 1024})
# Titan v2 refuses inputs past either limit rather than truncating them itself.
MAX_INPUT_CHARACTERS = 50_000
MAX_INPUT_TOKENS = 8_192
# How often an input is shortened after Titan counts more tokens than it accepts.
_MAX_SHORTENINGS = 4
_TOKEN_COUNT = re.compile(r"input token count:?\s*(\d+)", re.IGNORECASE)


class BedrockRuntime(Protocol):
    """The one bedrock-runtime call this adapter makes (boto3's client satisfies it)."""

    def invoke_model(
        self, *, modelId: str, body: bytes, contentType: str, accept: str
    ) -> Mapping[str, Any]: ...


class EmbeddingUnavailableError(ModelUnavailableError):
    """Bedrock kept failing with a transient error until the retries ran out."""


def truncate_for_titan(text: str, max_characters: int = MAX_INPUT_CHARACTERS) -> str:
    """The text cut to at most ``max_characters``, at a word boundary where one is near."""
    if len(text) <= max_characters:
        return text
    cut = text[:max_characters]
    # Prefer not to end on half a word, unless that would drop a large tail of the text.
    space = cut.rfind(" ", max(0, max_characters - 200))
    return cut[:space] if space > 0 else cut


def single_attempt_config(*, read_timeout: int, max_pool_connections: int) -> Config:
    """A client config with botocore's own retries off, for an adapter that retries itself.

    Retries multiplied across two layers would stretch a throttled request far past Lambda's
    patience without the caller knowing why, so the adapter's loop is the only one.
    """
    return Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
    )


def bedrock_runtime_client(region: str | None = None) -> BedrockRuntime:
    config = single_attempt_config(read_timeout=60, max_pool_connections=32)
    return cast(BedrockRuntime, boto3.client("bedrock-runtime", region_name=region, config=config))


class TitanEmbeddings:
    """Titan v2 embeddings, normalised by Bedrock so vectors are unit length.

    Titan v2 has no batch API, so a batch is one request per text, ``concurrency`` at a time.
    """

    def __init__(
        self,
        client: BedrockRuntime | None = None,
        *,
        region: str | None = None,
        model_id: str = TITAN_V2_MODEL_ID,
        dimensions: int = 1024,
        concurrency: int = 8,
        max_attempts: int = 5,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if dimensions not in TITAN_V2_DIMENSIONS:
            allowed = ", ".join(str(d) for d in sorted(TITAN_V2_DIMENSIONS))
            raise ValueError(f"Titan v2 embeddings have {allowed} dimensions, not {dimensions}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self._client = client or bedrock_runtime_client(region)
        self._model_id = model_id
        self._dimensions = dimensions
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._jitter = jitter

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def model_id(self) -> str:
        # The dimension count is part of the name: 256- and 1024-wide vectors do not mix.
        return f"{self._model_id}:{self._dimensions}"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        # Refused before any request, so a bad batch costs nothing and fails whole.
        for index, text in enumerate(texts):
            _require_text(text, index)
        if len(texts) <= 1 or self._concurrency == 1:
            return [self._embed(text) for text in texts]
        with ThreadPoolExecutor(
            max_workers=min(self._concurrency, len(texts)), thread_name_prefix="titan-embed"
        ) as pool:
            # map yields results in input order, whatever order the requests finish in.
            return list(pool.map(self._embed, texts))

    def embed_query(self, text: str) -> list[float]:
        _require_text(text)
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        text = truncate_for_titan(text)
        for _ in range(_MAX_SHORTENINGS):
            try:
                return self._invoke_with_retries(text)
            except ClientError as error:
                shorter = _shortened_after_token_limit(text, error)
                if shorter is None:
                    raise
                text = shorter
        return self._invoke_with_retries(text)

    def _invoke_with_retries(self, text: str) -> list[float]:
        body = json.dumps(
            {"inputText": text, "dimensions": self._dimensions, "normalize": True}
        ).encode()
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._client.invoke_model(
                    modelId=self._model_id,
                    body=body,
                    contentType="application/json",
                    accept="application/json",
                )
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                # Anything but a transient failure (access, validation) will not get better.
                if code not in TRANSIENT_ERROR_CODES:
                    raise
                if attempt == self._max_attempts:
                    raise EmbeddingUnavailableError(
                        f"Bedrock {self._model_id} failed {attempt} times; last error {code}: "
                        f"{error}"
                    ) from error
                # Full jitter: concurrent workers throttled together do not retry together.
                ceiling = backoff_ceiling(attempt, self._base_delay, self._max_delay)
                self._sleep(self._jitter(0.0, ceiling))
                continue
            return self._vector_from(response)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _vector_from(self, response: Mapping[str, Any]) -> list[float]:
        payload = json.loads(response["body"].read())
        vector = [float(value) for value in payload["embedding"]]
        if len(vector) != self._dimensions:
            raise ValueError(
                f"Bedrock returned {len(vector)} dimensions where {self._dimensions} were asked"
            )
        return vector


def _require_text(text: str, index: int | None = None) -> None:
    # Titan answers a blank input with a ValidationException; say which input it was.
    if not text.strip():
        where = "" if index is None else f" (text {index})"
        raise ValueError(f"Titan cannot embed an empty text{where}")


def _shortened_after_token_limit(text: str, error: ClientError) -> str | None:
    """A shorter text when Titan refused this one for having too many tokens, else None.

    Titan's tokenizer is not available offline, so the character limit is enforced before
    the call and the token limit after it, from the count Bedrock reports.
    """
    details = error.response.get("Error", {})
    message = details.get("Message", "")
    if details.get("Code") != "ValidationException" or "token" not in message.lower():
        return None
    match = _TOKEN_COUNT.search(message)
    counted = int(match.group(1)) if match else 0
    # Scale by the reported count with a 10 % margin; halve when Bedrock gives no count.
    ratio = 0.9 * MAX_INPUT_TOKENS / counted if counted > MAX_INPUT_TOKENS else 0.5
    return truncate_for_titan(text, max(1, int(len(text) * ratio)))
