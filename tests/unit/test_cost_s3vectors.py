"""S3 Vectors as the document store: its lines, its idle cost, and `chatbot cost` choosing it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from chatbot.config import Settings
from chatbot.cost.command import main
from chatbot.cost.estimate import estimate, idle_per_month
from chatbot.cost.prices import PriceSheet, load_prices, shipped_prices
from tests.conftest import FakeClock
from tests.unit.test_cost import SMALL_PRICES, SOURCE, hand_traffic, write_prices
from tests.unit.test_cost_command import TODAY, hand_example_flags

# Round rates again: storage $0.10 per GB-month, $2 per million queries, $0.01 per TB processed.
S3VECTORS: dict[str, Any] = {
    "name": "Test Vectors",
    "per_gb_month": 0.1,
    "per_gb_uploaded": 0.2,
    "per_million_queries": 2.0,
    "per_tb_processed": 0.01,
    **SOURCE,
}
WITH_S3VECTORS: dict[str, Any] = {
    **SMALL_PRICES,
    "models": [*SMALL_PRICES["models"], {**SMALL_PRICES["models"][0], "family": "claude-sonnet-4"}],
    "vector_stores": {**SMALL_PRICES["vector_stores"], "s3vectors": S3VECTORS},
}
# The hand-worked example (test_cost) on S3 Vectors: 1,000 turns, a 2 GB index, half a month.
#   index storage        2 GB x half a month = 1 GB-month x $0.10                = 0.10
#   query requests       1,000 turns x 2 (vector and keyword) = 2,000 x $2/M    = 0.004
#   query data processed 2,000 queries x 2 GB = 4,000 GB = 3.90625 TB x $0.01   = 0.0390625
# Idle: the 2 GB stored for a whole month, $0.20; nothing billed by the hour.
S3VECTORS_LINES = {
    "index storage": 0.10,
    "query requests": 0.004,
    "query data processed": 0.0390625,
}


@pytest.fixture
def with_s3vectors(tmp_path: Path) -> PriceSheet:
    return load_prices(write_prices(tmp_path / "prices.yaml", WITH_S3VECTORS))


def run(settings: Settings, *argv: str, clock: FakeClock = TODAY) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), settings=settings, clock=clock, stdout=out)
    return status, out.getvalue()


def test_s3vectors_lines_match_the_hand_worked_example(with_s3vectors: PriceSheet) -> None:
    result = estimate(hand_traffic(), with_s3vectors, "s3vectors")

    store = {line.item: line.cost for line in result.lines if line.service == "Test Vectors"}
    assert store == pytest.approx(S3VECTORS_LINES)
    [always_on] = [
        line for line in result.lines if line.always_on and line.service == "Test Vectors"
    ]
    assert always_on.item == "index storage"
    assert result.idle_per_month == pytest.approx(0.20)


def test_s3vectors_idle_is_storage_only_a_cent_or_less_for_a_small_corpus() -> None:
    prices = shipped_prices()
    # The default corpus: a 0.1 GB index at $0.06 per GB-month.
    idle = idle_per_month(prices, "s3vectors")

    assert idle == pytest.approx(0.1 * prices.vector_stores["s3vectors"].rate("per_gb_month"))
    assert idle < 0.01
    assert idle_per_month(prices, "opensearch") == pytest.approx(0.24 * 1.0 * 730)


def test_idle_per_month_is_the_estimates_figure(with_s3vectors: PriceSheet) -> None:
    traffic = hand_traffic()
    for store in ("opensearch", "s3vectors"):
        assert idle_per_month(with_s3vectors, store, traffic) == pytest.approx(
            estimate(traffic, with_s3vectors, store).idle_per_month
        )


def test_an_unknown_store_has_no_idle_cost(with_s3vectors: PriceSheet) -> None:
    with pytest.raises(ValueError, match="pinecone"):
        idle_per_month(with_s3vectors, "pinecone")


def test_command_prices_s3vectors_and_reports_the_crossover(
    settings: Settings, tmp_path: Path
) -> None:
    prices = write_prices(tmp_path / "prices.yaml", WITH_S3VECTORS)
    status, output = run(
        settings, "--prices", str(prices), "--vector-store", "s3vectors", *hand_example_flags()
    )

    assert status == 0
    assert "vector store: Test Vectors (s3vectors)" in output
    assert "Test Search" not in output
    # Tokens $10.00 / 100 = $0.10 a conversation against $0.20 a month idle: 2 a month.
    assert "Crossover: at 2 conversations a month" in output
    assert "(0.2000 a month)" in output


def test_command_says_there_is_no_crossover_when_the_store_idles_for_less_than_a_conversation(
    settings: Settings,
) -> None:
    status, output = run(settings, "--vector-store", "s3vectors")

    assert status == 0
    assert "vector store: Amazon S3 Vectors (s3vectors)" in output
    assert "Crossover: none, one conversation's model tokens" in output
    assert "the tokens cost more at any traffic" in output
    # No row for a fraction of a conversation a month in the volume table.
    assert "\n      0 " not in output


def test_command_refuses_a_store_it_cannot_price(settings: Settings) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(settings, "--vector-store", "pinecone")
    assert exit_.value.code == 2
