"""Estimated cost of an answer from its token counts.

An estimate for dashboards, not a bill: on-demand list prices in USD per million tokens for
the models we expect, matched by the family in the model id (so ``us.``/``eu.``/``global.``
inference profiles and dated versions match too). Prompt caching, batch and regional price
differences are not modelled. MODEL_INPUT_PRICE_PER_MTOK and MODEL_OUTPUT_PRICE_PER_MTOK
override the table, for a model it lacks or a negotiated price.
"""

from __future__ import annotations

from dataclasses import dataclass

# (family as it appears in the model id, input price, output price), most specific first.
KNOWN_PRICES: tuple[tuple[str, float, float], ...] = (
    ("claude-opus-4-5", 5.0, 25.0),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-haiku-4-5", 1.0, 5.0),
    ("claude-3-5-haiku", 0.8, 4.0),
    ("claude-3-haiku", 0.25, 1.25),
    ("gpt-4o-mini", 0.15, 0.6),
    ("gpt-4o", 2.5, 10.0),
)


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
    model_id: str, input_override: float | None = None, output_override: float | None = None
) -> Price:
    """The price of ``model_id``: the overrides where given, else the table, else free (the
    offline model, a local server, or a model the table does not know)."""
    found = FREE
    for family, input_price, output_price in KNOWN_PRICES:
        if family in model_id:
            found = Price(input_price, output_price)
            break
    return Price(
        found.input_per_mtok if input_override is None else input_override,
        found.output_per_mtok if output_override is None else output_override,
    )
