"""The reranker port on Amazon Bedrock: the Rerank API of bedrock-agent-runtime.

One ``rerank`` request per search: the query and the candidate chunks' texts as inline text
sources, and the model (``RAG_RERANK_MODEL``, e.g. ``amazon.rerank-v1:0``) as a foundation
model ARN of the region. Bedrock answers with ``{index, relevanceScore}`` per source, best
first; the chunks come back in that order, unchanged (their scores stay the search's, so a
threshold keeps meaning a cosine).

A failed request is not a failed answer: the reranker is an improvement on an order the
search already gave, so on any Bedrock or connection error the search's order is kept, and
the error's code (never the query or the chunks) is logged.

IAM: ``bedrock:Rerank`` (no resource-level permission: ``*``) and ``bedrock:InvokeModel`` on
the reranking model; the stack grants both only when ``rerankModelId`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chatbot.records import DocumentChunk

logger = logging.getLogger(__name__)

# The Rerank API's limits (the service model): 1,000 sources, 32,000 characters a text.
MAX_SOURCES: Final = 1000
MAX_TEXT_CHARACTERS: Final = 32_000


class BedrockAgentRuntime(Protocol):
    """The one bedrock-agent-runtime call this adapter makes (boto3's client satisfies it)."""

    def rerank(self, **request: Any) -> Mapping[str, Any]: ...


def bedrock_agent_runtime_client(region: str | None = None) -> BedrockAgentRuntime:
    # One attempt with a short read timeout: a slow reranker must not hold up the answer, and
    # a failure keeps the search's order anyway.
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=3, read_timeout=10
    )
    client = boto3.client("bedrock-agent-runtime", region_name=region, config=config)
    return cast(BedrockAgentRuntime, client)


def model_arn(model: str, region: str, partition: str = "aws") -> str:
    """The foundation model ARN of a model id (an ARN is returned as it is)."""
    if model.startswith("arn:"):
        return model
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model}"


def rerank_request(
    query: str, texts: Sequence[str], *, model: str, number_of_results: int
) -> dict[str, Any]:
    """The ``rerank`` request for ``texts`` (already within the API's limits)."""
    return {
        "queries": [{"type": "TEXT", "textQuery": {"text": query[:MAX_TEXT_CHARACTERS]}}],
        "sources": [
            {
                "type": "INLINE",
                "inlineDocumentSource": {
                    "type": "TEXT",
                    "textDocument": {"text": text[:MAX_TEXT_CHARACTERS]},
                },
            }
            for text in texts
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": number_of_results,
                "modelConfiguration": {"modelArn": model},
            },
        },
    }


class BedrockReranker:
    """``chatbot.ports.Reranker`` through Bedrock's Rerank API."""

    def __init__(self, client: BedrockAgentRuntime, model: str) -> None:
        self._client = client
        self._model = model

    def rerank(
        self, query: str, chunks: Sequence[DocumentChunk], *, limit: int
    ) -> list[DocumentChunk]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        candidates = [chunk for chunk in chunks if chunk.content.strip()][:MAX_SOURCES]
        if len(candidates) <= 1 or not query.strip():
            return list(chunks[:limit])
        request = rerank_request(
            query,
            [chunk.content for chunk in candidates],
            model=self._model,
            number_of_results=min(limit, len(candidates)),
        )
        try:
            response = self._client.rerank(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            logger.warning("rerank failed (%s): keeping the search's order", code)
            return list(chunks[:limit])
        except BotoCoreError as error:
            logger.warning("rerank failed (%s): keeping the search's order", type(error).__name__)
            return list(chunks[:limit])
        ordered = sorted(
            response.get("results", []), key=lambda result: -float(result["relevanceScore"])
        )
        reranked: list[DocumentChunk] = []
        seen: set[int] = set()
        for result in ordered:
            index = int(result["index"])
            if 0 <= index < len(candidates) and index not in seen:
                seen.add(index)
                reranked.append(candidates[index])
        if not reranked:
            return list(chunks[:limit])
        return reranked[:limit]
