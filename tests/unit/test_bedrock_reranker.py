"""The Bedrock reranker against botocore's own model of the Rerank API (Stubber: the
request is validated against the installed service model, no network), and the reranked
search around it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from chatbot.adapters.aws.reranker import BedrockReranker, model_arn, rerank_request
from chatbot.document_search import NoReranking, RerankedSearch
from chatbot.records import DocumentChunk
from tests.conftest import FakeClock

MODEL = model_arn("amazon.rerank-v1:0", "us-west-2")


def chunk(chunk_id: str, score: float = 0.5) -> DocumentChunk:
    return DocumentChunk(
        id=chunk_id, content=f"text of {chunk_id}", source=f"{chunk_id}.md", score=score
    )


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "bedrock-agent-runtime",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def test_the_request_is_valid_for_the_service_model_and_the_order_is_bedrocks(
    client: Any, stubber: Stubber
) -> None:
    chunks = [chunk("a", 0.9), chunk("b", 0.8), chunk("c", 0.7)]
    expected = rerank_request(
        "how do I sort?", [c.content for c in chunks], model=MODEL, number_of_results=2
    )
    stubber.add_response(
        "rerank",
        {"results": [{"index": 2, "relevanceScore": 0.97}, {"index": 0, "relevanceScore": 0.41}]},
        expected,
    )

    found = BedrockReranker(client, MODEL).rerank("how do I sort?", chunks, limit=2)

    assert [c.id for c in found] == ["c", "a"]
    assert [c.score for c in found] == [0.7, 0.9]  # the search's scores, unchanged
    assert expected["queries"] == [{"type": "TEXT", "textQuery": {"text": "how do I sort?"}}]
    assert expected["rerankingConfiguration"]["bedrockRerankingConfiguration"] == {
        "numberOfResults": 2,
        "modelConfiguration": {
            "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"
        },
    }


def test_a_request_outside_the_service_model_is_refused_before_sending(client: Any) -> None:
    # The stub checks what this adapter builds: here, a source without its required "type"
    # and a query under an unknown key, as a typo in rerank_request would make them.
    bad = rerank_request("q", ["x", "y"], model=MODEL, number_of_results=1)
    del bad["sources"][0]["type"]
    answer = {"results": [{"index": 0, "relevanceScore": 0.5}]}
    with Stubber(client) as stub:
        stub.add_response("rerank", answer)
        with pytest.raises(ParamValidationError, match="type"):
            client.rerank(**bad)
    misspelt = rerank_request("q", ["x", "y"], model=MODEL, number_of_results=1)
    misspelt["queries"] = [{"type": "TEXT", "textQueries": {"text": "q"}}]
    with Stubber(client) as stub:
        stub.add_response("rerank", answer)
        with pytest.raises(ParamValidationError, match="textQueries"):
            client.rerank(**misspelt)


def test_a_bedrock_error_keeps_the_searchs_order(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "rerank", service_error_code="ThrottlingException", http_status_code=429
    )
    chunks = [chunk("a"), chunk("b"), chunk("c")]

    found = BedrockReranker(client, MODEL).rerank("q", chunks, limit=2)

    assert [c.id for c in found] == ["a", "b"]


def test_one_chunk_needs_no_request(client: Any, stubber: Stubber) -> None:
    found = BedrockReranker(client, MODEL).rerank("q", [chunk("a")], limit=5)
    assert [c.id for c in found] == ["a"]  # and the stubber saw no call


def test_a_model_arn_is_built_from_an_id_or_kept() -> None:
    assert model_arn("cohere.rerank-v3-5:0", "eu-central-1") == (
        "arn:aws:bedrock:eu-central-1::foundation-model/cohere.rerank-v3-5:0"
    )
    assert model_arn("arn:aws:bedrock:us-west-2::foundation-model/x", "eu-west-1").endswith("/x")


class FixedSearch:
    def __init__(self, chunks: list[DocumentChunk]) -> None:
        self.chunks = chunks
        self.limits: list[int] = []

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        self.limits.append(limit)
        return self.chunks[:limit]


class Reversing:
    def rerank(
        self, query: str, chunks: Sequence[DocumentChunk], *, limit: int
    ) -> list[DocumentChunk]:
        return list(reversed(chunks))[:limit]


def test_the_reranked_search_fetches_candidates_and_keeps_the_best_limit() -> None:
    inner = FixedSearch([chunk(name) for name in "abcdef"])
    search = RerankedSearch(inner, Reversing(), candidates=4)

    assert [c.id for c in search.search("q", limit=2)] == ["d", "c"]
    assert inner.limits == [4]


def test_nothing_found_stays_nothing_and_no_reranking_keeps_the_order() -> None:
    assert RerankedSearch(FixedSearch([]), Reversing(), candidates=4).search("q", limit=2) == []
    kept = RerankedSearch(FixedSearch([chunk("a"), chunk("b")]), NoReranking(), candidates=5)
    assert [c.id for c in kept.search("q", limit=1)] == ["a"]


def test_in_aws_the_search_is_reranked_only_when_a_model_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chatbot.config import Settings
    from chatbot.document_search import ModeSearch, _open

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CHATBOT_ENV": "aws",
        "OPENSEARCH_ENDPOINT": "https://example.us-west-2.aoss.amazonaws.com",
        "AWS_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(name, value)
    assert isinstance(_open(Settings(), FakeClock()), ModeSearch)  # opens no connection

    monkeypatch.setenv("RAG_RERANK_MODEL", "amazon.rerank-v1:0")
    reranked = _open(Settings(), FakeClock())

    assert isinstance(reranked, RerankedSearch)
    assert reranked._candidates == 20
    assert reranked._reranker._model == MODEL  # type: ignore[attr-defined]
