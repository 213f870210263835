"""search_documents through the executor: result shape, ranking, limits, hostile query text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.records import DocumentChunk
from chatbot.tables import RECORDS
from chatbot.tools.catalog import ToolCatalog
from chatbot.tools.errors import ToolError
from chatbot.tools.executor import ToolExecutor
from tests.conftest import FakeClock
from tests.integration.tool_harness import OWNER_A, call, refusal, seeded_index


@pytest.fixture
def tables() -> Iterator[SQLiteTables]:
    # Search touches no table; the records table is only there because the executor needs one.
    adapter = SQLiteTables(":memory:", clock=FakeClock())
    yield adapter
    adapter.close()


@pytest.fixture
def executor(tables: SQLiteTables) -> ToolExecutor:
    return ToolExecutor(
        ToolCatalog.load(), tables.table(RECORDS), seeded_index(), clock=FakeClock()
    )


def test_search_returns_the_relevant_chunk_first_in_the_result_shape(
    executor: ToolExecutor,
) -> None:
    result = call(executor, "search_documents", query="How many days do I have for a refund?")

    first = result["results"][0]
    assert set(first) == {"id", "content", "source", "score"}
    assert (first["id"], first["source"]) == ("refunds-0", "policies/refunds.md")
    assert "full refund" in first["content"]
    scores = [chunk["score"] for chunk in result["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < score <= 1 for score in scores)


def test_search_honours_the_limit(executor: ToolExecutor) -> None:
    result = call(executor, "search_documents", query="days security refund ship", limit=2)
    assert len(result["results"]) == 2


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ('"', None),
        ('refund"', "refunds-0"),
        ("(refund", "refunds-0"),
        ("refund AND", "refunds-0"),
        ("OR", None),
        ("NOT refund", "refunds-0"),
        ("NEAR(laptop lost, 2)", "security-1"),
        ("laptop*", "security-1"),
        ("*", None),
        ("title:refund", "refunds-0"),
        ("content: passwords", "security-0"),
        ("^express", "shipping-0"),
        ("'; DROP TABLE document_chunks; --", None),
        ("ünïcödé ✓ 日本語 🙂", None),
        ("\x00\x01", None),
        ("-refund +refund", "refunds-0"),
        ("a" * 1000, None),
    ],
)
def test_search_survives_any_query_text_and_still_finds_its_words(
    executor: ToolExecutor, query: str, first: str | None
) -> None:
    results = call(executor, "search_documents", query=query)["results"]

    if first is None:
        assert results == []
    else:
        assert results[0]["id"] == first


@pytest.mark.parametrize("limit", [0, 21, -1, "5", 2.5, True])
def test_search_limit_outside_1_to_20_is_invalid(executor: ToolExecutor, limit: Any) -> None:
    assert refusal(executor, "search_documents", query="refund", limit=limit) == "INVALID_INPUT"


@pytest.mark.parametrize("query", ["", " ", "\t\n  ", "x" * 1001])
def test_an_empty_blank_or_overlong_query_is_invalid(executor: ToolExecutor, query: str) -> None:
    assert refusal(executor, "search_documents", query=query) == "INVALID_INPUT"


class _BrokenSearch:
    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        raise ConnectionError("index endpoint unreachable at 10.0.0.1")


def test_a_failing_search_backend_is_search_unavailable_without_details(
    tables: SQLiteTables,
) -> None:
    executor = ToolExecutor(
        ToolCatalog.load(), tables.table(RECORDS), _BrokenSearch(), clock=FakeClock()
    )

    with pytest.raises(ToolError) as refused:
        executor.call("search_documents", {"query": "refund"}, owner=OWNER_A)

    assert refused.value.code == "SEARCH_UNAVAILABLE"
    assert "10.0.0.1" not in refused.value.message


class _UnconfiguredSearch:
    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        raise ToolError("SEARCH_UNAVAILABLE", "Document search is not configured here.")


def test_a_tool_error_from_the_search_backend_reaches_the_caller_as_it_is(
    tables: SQLiteTables,
) -> None:
    executor = ToolExecutor(
        ToolCatalog.load(), tables.table(RECORDS), _UnconfiguredSearch(), clock=FakeClock()
    )

    with pytest.raises(ToolError) as refused:
        executor.call("search_documents", {"query": "refund"}, owner=OWNER_A)

    assert refused.value.message == "Document search is not configured here."
