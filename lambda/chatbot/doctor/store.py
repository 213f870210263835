"""Which document store the stack deploys (the ``vectorStore`` context key) and what it costs
idle, priced by ``chatbot.cost`` so the figure is the one ``chatbot cost`` prints."""

from __future__ import annotations

from chatbot.cost.estimate import VECTOR_STORE_LINES, idle_per_month
from chatbot.cost.prices import PriceSheet, shipped_prices
from chatbot.doctor.findings import Finding, Status

CHECK = "document store"
CONTEXT_KEY = "vectorStore"


def check_vector_store(vector_store: str, prices: PriceSheet | None = None) -> Finding:
    prices = prices or shipped_prices()
    # The stores the cost model prices are the ones the stack offers (stacks/settings.py).
    known = [name for name in sorted(VECTOR_STORE_LINES) if name in prices.vector_stores]
    if vector_store not in known:
        return Finding(
            CHECK,
            Status.FAIL,
            f"{CONTEXT_KEY} is not a document store the stack offers",
            f"-c {CONTEXT_KEY}=<one of {', '.join(known)}> (or set it in cdk.json's context)",
        )
    name = prices.vector_stores[vector_store].name
    others = "; ".join(
        f"-c {CONTEXT_KEY}={other} idles at {_usd(idle_per_month(prices, other))}"
        for other in known
        if other != vector_store
    )
    found = (
        f"{name} ({CONTEXT_KEY}={vector_store}), idles at about "
        f"{_usd(idle_per_month(prices, vector_store))} a month"
    )
    return Finding(CHECK, Status.OK, f"{found}; {others}" if others else found)


def _usd(value: float) -> str:
    return f"${value:,.2f}"
