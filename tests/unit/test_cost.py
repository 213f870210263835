"""The cost model's arithmetic, checked against an example worked by hand, and the price file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot.cost.estimate import ModelTokens, Traffic, estimate
from chatbot.cost.prices import PriceFileError, PriceSheet, load_prices, shipped_prices
from chatbot.engine.pricing import Price, price_of

SOURCE = {"source": "https://example.com/pricing", "as_of": "2026-01-31"}
# Round rates, and a 720-hour month, so that every line below can be worked out by hand.
SMALL_PRICES: dict[str, Any] = {
    "region": "test-region-1",
    "currency": "USD",
    "hours_per_month": 720,
    "models": [{"family": "tiny-model", "input_per_mtok": 2.0, "output_per_mtok": 10.0, **SOURCE}],
    "embedding_models": [{"family": "tiny-embed", "input_per_mtok": 0.1, **SOURCE}],
    "services": {
        "api_gateway_websocket": {
            "per_million_messages": 1.0,
            "per_million_connection_minutes": 0.5,
            **SOURCE,
        },
        "lambda_arm64": {"per_gb_second": 0.00001, "per_million_requests": 0.2, **SOURCE},
        "dynamodb_on_demand": {
            "per_million_write_units": 1.0,
            "per_million_read_units": 0.5,
            "per_gb_month": 0.25,
            **SOURCE,
        },
        "cloudwatch_logs": {"per_gb_ingested": 0.5, "per_gb_month": 0.03, **SOURCE},
    },
    "vector_stores": {
        "opensearch": {
            "name": "Test Search",
            "per_ocu_hour": 0.25,
            "minimum_ocus": 1.0,
            "per_gb_month": 0.02,
            **SOURCE,
        }
    },
}
# The hand-worked example: 100 conversations of 10 turns (1,000 turns) in a month of 200
# conversations, so the priced conversations fill half the month.
HAND_EXAMPLE: dict[str, float] = {
    "conversations": 100,
    "conversations_per_month": 200,
    "turns_per_conversation": 10,
    "answer_seconds": 2,
    "tools_share": 0.5,
    "embedding_tokens_per_turn": 100,
    "chars_per_token": 4,
    "chars_per_delta": 40,
    "frames_per_turn": 3,
    "frames_per_conversation": 2,
    "connection_minutes_per_conversation": 10,
    "websocket_invocations_per_conversation": 2,
    "websocket_invocations_per_turn": 1,
    "websocket_seconds": 0.1,
    "websocket_memory_gb": 0.5,
    "engine_memory_gb": 1,
    "mcp_invocations_per_tools_turn": 2,
    "mcp_seconds": 0.5,
    "mcp_memory_gb": 1,
    "cleanup_rate_minutes": 10,
    "cleanup_seconds": 1,
    "cleanup_memory_gb": 0.5,
    "write_units_per_turn": 10,
    "write_units_per_conversation": 4,
    "read_units_per_turn": 5,
    "read_units_per_answer_second": 1,
    # 100 conversations x 10,485.76 KB = 1 GB (1,048,576 KB); 1,000 turns x 1,048.576 KB too.
    "stored_kb_per_conversation": 10485.76,
    "log_kb_per_turn": 1048.576,
    "index_gb": 2,
}
HAND_TOKENS = (ModelTokens("vendor.tiny-model-v1", 1000, 200),)
# Line by line (USD):
#   WebSocket messages   1,000 turns x (3 frames + 800 chars / 40 = 20 deltas) + 100 x 2
#                        = 23,200 messages x $1/M                                = 0.0232
#   connection minutes   100 x 10 = 1,000 x $0.5/M                              = 0.0005
#   Lambda GB-seconds    websocket (100 x 2 + 1,000 x 1 = 1,200 runs) x 0.1 s x 0.5 GB = 60
#                        + engine 1,000 x 2 s x 1 GB = 2,000
#                        + MCP (1,000 x 0.5 x 2 = 1,000 runs) x 0.5 s x 1 GB = 500
#                        = 2,560 GB-s x $0.00001                                = 0.0256
#   Lambda requests      1,200 + 1,000 + 1,000 = 3,200 x $0.2/M                 = 0.00064
#   cleanup schedule     720 h x 60 / 10 min = 4,320 runs a month, half: 2,160
#                        x 1 s x 0.5 GB = 1,080 GB-s x $0.00001                 = 0.0108
#   DynamoDB writes      1,000 x 10 + 100 x 4 = 10,400 x $1/M                   = 0.0104
#   DynamoDB reads       1,000 x (5 + 1 x 2 s) = 7,000 x $0.5/M                 = 0.0035
#   DynamoDB storage     1 GB-month x $0.25                                     = 0.25
#   model input          1,000 x 1,000 = 1,000,000 tokens x $2/M                = 2.00
#   model output         1,000 x 200 = 200,000 tokens x $10/M                   = 2.00
#   embeddings           1,000 x 100 = 100,000 tokens x $0.1/M                  = 0.01
#   OCU-hours            1 OCU x 720 h x half a month = 360 x $0.25             = 90.00
#   index storage        2 GB x half a month = 1 GB-month x $0.02               = 0.02
#   logs ingestion       1 GB x $0.5                                            = 0.50
#   logs storage         1 GB-month x $0.03                                     = 0.03
#   total                                                                       = 94.88464
# The idle store costs 720 x $0.25 = $180 a month; the tokens $4.00 / 100 = $0.04 a
# conversation, so they cost as much as the idle store at 180 / 0.04 = 4,500 a month.
HAND_LINES = {
    "WebSocket messages": 0.0232,
    "connection minutes": 0.0005,
    "GB-seconds (arm64)": 0.0256,
    "requests": 0.00064,
    "GB-seconds, session cleanup": 0.0108,
    "write request units": 0.0104,
    "read request units": 0.0035,
    "storage, one month": 0.25 + 0.03,  # DynamoDB's and the logs'
    "vendor.tiny-model-v1 input tokens": 2.0,
    "vendor.tiny-model-v1 output tokens": 2.0,
    "tiny-embed-v1 tokens": 0.01,
    "OCU-hours (the minimum)": 90.0,
    "index storage": 0.02,
    "ingestion": 0.5,
}
HAND_TOTAL = 94.88464


def write_prices(path: Path, prices: dict[str, Any] = SMALL_PRICES) -> Path:
    path.write_text(yaml.safe_dump(prices), encoding="utf-8")
    return path


@pytest.fixture
def small(tmp_path: Path) -> PriceSheet:
    return load_prices(write_prices(tmp_path / "prices.yaml"))


def hand_traffic(**changes: float) -> Traffic:
    traffic = Traffic(tokens=HAND_TOKENS, embedding_model="tiny-embed-v1")
    return traffic.assuming({**HAND_EXAMPLE, **changes})


def test_every_line_matches_the_hand_worked_example(small: PriceSheet) -> None:
    result = estimate(hand_traffic(), small)

    costs: dict[str, float] = {}
    for line in result.lines:
        costs[line.item] = costs.get(line.item, 0.0) + line.cost
    assert costs == pytest.approx(HAND_LINES)
    assert result.total == pytest.approx(HAND_TOTAL)
    assert result.per_conversation == pytest.approx(HAND_TOTAL / 100)
    assert result.token_cost == pytest.approx(4.0)


def test_idle_store_is_the_lever_below_the_crossover_and_tokens_above(small: PriceSheet) -> None:
    quiet = estimate(hand_traffic(), small)
    busy = estimate(hand_traffic(conversations_per_month=100_000), small)

    assert quiet.idle_per_month == pytest.approx(180.0)
    assert quiet.crossover_per_month == pytest.approx(4500)
    assert (quiet.biggest.name, quiet.biggest.kind) == (
        "Test Search OCU-hours (the minimum)",
        "always_on",
    )
    # At 100,000 a month the 100 conversations carry 1/1,000 of the idle store: $0.18.
    assert (busy.biggest.kind, busy.biggest.cost) == ("tokens", pytest.approx(4.0))
    assert busy.crossover_per_month == pytest.approx(4500)


def test_an_unpriced_model_costs_nothing_and_has_no_crossover(small: PriceSheet) -> None:
    traffic = hand_traffic()
    result = estimate(
        Traffic(tokens=(ModelTokens("offline", 1000, 200),), embedding_model="tiny-embed").assuming(
            HAND_EXAMPLE
        ),
        small,
    )

    unpriced = [line for line in result.lines if line.tokens]
    assert [line.item for line in unpriced] == [
        "offline input tokens (unpriced)",
        "offline output tokens (unpriced)",
    ]
    assert result.token_cost == 0 and result.crossover_per_month is None
    assert result.total == pytest.approx(estimate(traffic, small).total - 4.0)


def test_a_vector_store_without_a_price_model_is_refused(small: PriceSheet) -> None:
    with pytest.raises(ValueError, match="s3vectors"):
        estimate(hand_traffic(), small, vector_store="s3vectors")


def test_an_unknown_assumption_is_refused() -> None:
    with pytest.raises(ValueError, match="not an assumption: tokens_per_day"):
        hand_traffic(tokens_per_day=1)


def test_a_price_without_its_source_is_refused(tmp_path: Path) -> None:
    broken = {
        **SMALL_PRICES,
        "models": [{"family": "x", "input_per_mtok": 1, "output_per_mtok": 2}],
    }

    with pytest.raises(PriceFileError, match="source"):
        load_prices(write_prices(tmp_path / "prices.yaml", broken))


def test_the_shipped_file_dates_and_sources_every_price() -> None:
    prices = shipped_prices()

    entries = [
        *prices.models,
        *prices.embedding_models,
        *prices.vector_stores.values(),
        *(getattr(prices.services, name) for name in type(prices.services).model_fields),
    ]
    assert len(entries) >= 16
    assert all(
        entry.source.startswith("https://") and entry.as_of.year >= 2026 for entry in entries
    )
    assert prices.vector_stores["opensearch"].rate("per_ocu_hour") == 0.24
    assert prices.hours_per_month == 730


def test_engine_token_prices_come_from_the_price_file(small: PriceSheet) -> None:
    # The same lookup serves the engine (analytics' costUsd) and the cost model.
    assert price_of("vendor.tiny-model-v1", prices=small) == Price(2.0, 10.0)
    assert price_of("vendor.tiny-model-v1", None, 1.0, prices=small) == Price(2.0, 1.0)
    assert price_of("claude-sonnet-4-5", prices=small) == Price(0.0, 0.0)
    entry = shipped_prices().model_price("us.anthropic.claude-haiku-4-5-20251001-v1:0")
    assert entry is not None
    assert price_of("us.anthropic.claude-haiku-4-5-20251001-v1:0") == Price(
        entry.input_per_mtok, entry.output_per_mtok
    )
