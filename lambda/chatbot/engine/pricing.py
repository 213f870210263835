"""Estimated cost of an answer from its token counts.

An estimate for dashboards, not a bill: on-demand list prices in USD per million tokens for
the models we expect, from the one price file (``chatbot/cost/prices.yaml``, which says where
each price comes from and when), matched by the family in the model id (so ``us.``/``eu.``/
``global.`` inference profiles and dated versions match too). Prompt caching, batch and
regional price differences are not modelled. MODEL_INPUT_PRICE_PER_MTOK and
MODEL_OUTPUT_PRICE_PER_MTOK override the file, for a model it lacks or a negotiated price.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.cost.prices import PriceSheet, shipped_prices


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD, rounded to a millionth of a dollar."""
        total = input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
        return round(total / 1_000_000, 6)


FREE = Price(0.0, 0.0)


def price_of(
    model_id: str,
    input_override: float | None = None,
    output_override: float | None = None,
    *,
    prices: PriceSheet | None = None,
) -> Price:
    """The price of ``model_id``: the overrides where given, else the price file's (the
    package's own unless ``prices`` is given), else free (the offline model, a local server,
    or a model the file does not know)."""
    entry = (prices or shipped_prices()).model_price(model_id)
    found = FREE if entry is None else Price(entry.input_per_mtok, entry.output_per_mtok)
    return Price(
        found.input_per_mtok if input_override is None else input_override,
        found.output_per_mtok if output_override is None else output_override,
    )
