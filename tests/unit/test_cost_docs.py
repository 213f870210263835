"""docs/COST.md's document-store table: its idle figures are the ones the cost model computes."""

from __future__ import annotations

from pathlib import Path

from chatbot.cost.estimate import idle_per_month
from chatbot.cost.prices import shipped_prices

COST_MD = Path(__file__).resolve().parents[2] / "docs" / "COST.md"


def table_row(label: str) -> list[str]:
    [row] = [
        line for line in COST_MD.read_text(encoding="utf-8").splitlines()
        if line.startswith(f"| {label} |")
    ]  # fmt: skip
    return [cell.strip() for cell in row.strip("|").split("|")][1:]


def test_the_documented_idle_costs_are_the_cost_models() -> None:
    prices = shipped_prices()

    opensearch, s3vectors = table_row("idle cost a month")

    assert opensearch == f"${idle_per_month(prices, 'opensearch'):,.2f}"
    assert s3vectors == f"${idle_per_month(prices, 's3vectors'):,.3f}"
