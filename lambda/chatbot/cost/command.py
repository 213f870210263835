"""``chatbot cost``: what a number of conversations cost in AWS, line by line, with every
assumption printed, the biggest lever and where traffic crosses over."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import TextIO

# One way to find the analytics store, and one kind of usage error, with `chatbot analytics`.
from chatbot.analytics_cli import UsageError, analytics_table
from chatbot.clock import Clock, SystemClock
from chatbot.config import Settings, load_settings
from chatbot.cost.estimate import (
    VECTOR_STORE_LINES,
    CostLine,
    Estimate,
    Lever,
    Traffic,
    assumption_names,
    estimate,
)
from chatbot.cost.prices import PRICES_FILE, PriceFileError, PriceSheet, load_prices
from chatbot.cost.prices import shipped_prices as shipped
from chatbot.cost.traffic import assumed_traffic, measured_traffic, repriced

# The monthly traffic the report also prices PER_VOLUME conversations at.
VOLUMES = (100, 1_000, 10_000, 100_000)
PER_VOLUME = 1_000


def main(
    argv: list[str],
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    stdout: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    args = _parser().parse_args(argv)
    settings = settings or load_settings()
    clock = clock or SystemClock()
    try:
        prices, prices_name = _prices(args.prices)
        overrides = _overrides(args)
        model = args.model or settings.bedrock_claude_model
        traffic = assumed_traffic(model, settings.bedrock_embedding_model, overrides)
        note = "all stated here; --days N measures the first ones from analytics"
        if args.days is not None:
            traffic, note = _measure(args, settings, clock, traffic, prices, overrides)
        result = estimate(traffic, prices, args.vector_store)
    except (UsageError, PriceFileError, ValueError) as error:
        sys.stderr.write(f"chatbot cost: {error}\n")
        return 2
    out.write(report(result, prices, prices_name, note))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot cost",
        description="What conversations cost in AWS (us-east-1 list prices from "
        f"chatbot/cost/{PRICES_FILE}), line by line; docs/COST.md explains the model.",
    )
    parser.add_argument(
        "--conversations", type=float, default=1000, metavar="N", help="default: 1,000"
    )
    parser.add_argument(
        "--per-month",
        type=float,
        metavar="N",
        help="conversations a month, which share the always-on costs (default: as many as "
        "--conversations, or what --days measured)",
    )
    parser.add_argument(
        "--days",
        type=int,
        metavar="N",
        help="measure messages, tokens by model, latency and traffic from the last N days of "
        "analytics (the store `chatbot analytics` reads)",
    )
    parser.add_argument(
        "--model",
        metavar="ID",
        help="price the tokens as this model's (default: BEDROCK_CLAUDE_MODEL; with --days, "
        "the models recorded)",
    )
    parser.add_argument(
        "--vector-store",
        choices=sorted(VECTOR_STORE_LINES),
        default="opensearch",
        help="the document store (default: %(default)s)",
    )
    parser.add_argument(
        "--assume",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set an assumption by name, e.g. turns_per_conversation=6 (repeatable; the "
        "printed list names them)",
    )
    parser.add_argument(
        "--prices", type=Path, metavar="FILE", help="another price file of the same shape"
    )
    return parser


def _prices(path: Path | None) -> tuple[PriceSheet, str]:
    if path is None:
        return shipped(), f"chatbot/cost/{PRICES_FILE}"
    return load_prices(path), str(path)


def _overrides(args: argparse.Namespace) -> dict[str, float]:
    names = assumption_names()
    values: dict[str, float] = {}
    for pair in args.assume:
        name, _, text = pair.partition("=")
        if name not in names:
            raise UsageError(f"--assume: no assumption {name!r} (one of: {', '.join(names)})")
        try:
            values[name] = float(text)
        except ValueError:
            raise UsageError(f"--assume {name}: {text!r} is not a number") from None
    values["conversations"] = args.conversations
    values["conversations_per_month"] = args.per_month or args.conversations
    return values


def _measure(
    args: argparse.Namespace,
    settings: Settings,
    clock: Clock,
    assumed: Traffic,
    prices: PriceSheet,
    overrides: dict[str, float],
) -> tuple[Traffic, str]:
    # Imported here: only --days reads a store.
    from chatbot.analytics_report import DateRange, read_events

    try:
        dates = DateRange.last_days(args.days, clock.now().date())
    except ValueError as error:
        raise UsageError(str(error)) from None
    with analytics_table(settings, clock) as (table, where):
        queries = read_events(table, dates, event_type="query")
        measured = measured_traffic(
            queries, args.days, assumed, hours_per_month=prices.hours_per_month
        )
    span = f"{dates.first} to {dates.last}, {where}"
    if measured is None:
        return assumed, f"no questions recorded {span}, so all stated here"
    # What was asked for on the command line wins over what was measured.
    explicit = {name: overrides[name] for name in overrides if name != "conversations_per_month"}
    if args.per_month:
        explicit["conversations_per_month"] = args.per_month
    traffic = measured.assuming(explicit)
    traffic = replace(traffic, measured=traffic.measured - set(explicit))
    if args.model:
        traffic = repriced(traffic, args.model)
    return traffic, f"* measured from analytics {span}"


# --- the report --------------------------------------------------------------------------


def report(result: Estimate, prices: PriceSheet, prices_name: str, note: str) -> str:
    from chatbot.analytics_cli import render_table

    traffic = result.traffic
    store = prices.vector_stores[result.vector_store]
    rows = [_row(line) for line in result.lines]
    rows.append(["total", "", "", "", "", _usd(result.total)])
    rows.append(["per conversation", "", "", "", "", _usd(result.per_conversation)])
    parts = [
        f"Cost of {_count(traffic.conversations)} conversations of "
        f"{_count(traffic.turns_per_conversation, 1)} turns, at "
        f"{_count(traffic.conversations_per_month)} conversations a month: "
        f"{prices.currency}, {prices.region} list prices",
        f"Prices: {prices_name} (as of {', '.join(map(str, prices.dates()))}); vector store: "
        f"{store.name} ({result.vector_store})",
        "",
        render_table(["service", "item", "quantity", "unit", "price", prices.currency], rows),
        "",
        f"Assumptions ({note}):",
        *_assumptions(traffic),
        "",
        f"Per {_count(PER_VOLUME)} conversations, by conversations a month (the always-on lines "
        "shared by more or fewer):",
        _volumes(result, prices, render_table),
        "",
        *_lever(result, store.name),
    ]
    return "\n".join(parts) + "\n"


def _row(line: CostLine) -> list[str]:
    per = " per 1M" if line.per == 1_000_000 else ""
    return [
        line.service,
        line.item + (" [always on]" if line.always_on else ""),
        _count(line.quantity, 2 if line.quantity < 10 else 0),
        line.unit,
        _rate(line.rate) + per,
        _usd(line.cost),
    ]


def _crossover(result: Estimate) -> float | None:
    """The crossover, when there is one to report: below one conversation a month (a store
    that costs next to nothing idle) the tokens cost more at any traffic there is."""
    crossover = result.crossover_per_month
    return crossover if crossover is not None and crossover >= 1 else None


def _volumes(result: Estimate, prices: PriceSheet, render: Callable[..., str]) -> str:
    crossover = _crossover(result)
    volumes = sorted(
        {*VOLUMES, result.traffic.conversations_per_month, *([crossover] if crossover else [])}
    )
    rows = []
    for volume in volumes:
        traffic = replace(result.traffic, conversations=PER_VOLUME, conversations_per_month=volume)
        at = estimate(traffic, prices, result.vector_store)
        idle = sum(line.cost for line in at.lines if line.always_on)
        rows.append(
            [
                _count(volume),
                _usd(at.total),
                _usd(at.token_cost),
                _usd(idle),
                at.biggest.name,
            ]
        )
    headers = ["a month", "total", "model tokens", "always on", "biggest line"]
    return render(headers, rows)


def _assumptions(traffic: Traffic) -> list[str]:
    mark = "* " if "tokens" in traffic.measured else "  "
    lines = [
        f"  {mark}tokens per turn, {m.model_id}: {_count(m.input_per_turn)} in, "
        f"{_count(m.output_per_turn)} out"
        for m in traffic.tokens
    ]
    for item in fields(traffic):
        if "label" not in item.metadata:
            continue
        mark = "* " if item.name in traffic.measured else "  "
        value = getattr(traffic, item.name)
        lines.append(f"  {mark}{item.metadata['label']}: {_count(value, 2)}  [{item.name}]")
    return lines


def _lever(result: Estimate, store_name: str) -> list[str]:
    biggest = result.biggest
    share = biggest.cost / result.total if result.total else 0.0
    lines = [
        f"Biggest lever: {biggest.name}, {_usd(biggest.cost)} "
        f"({share:.0%} of {_usd(result.total)}). {_advice(biggest)}"
    ]
    crossover = _crossover(result)
    per_conversation = result.token_cost / result.traffic.conversations
    if per_conversation <= 0:
        lines.append("Crossover: none, the model's tokens are unpriced (free) in the price file.")
    elif crossover is None:
        lines.append(
            f"Crossover: none, one conversation's model tokens ({_usd(per_conversation)}) "
            f"already cost more than the idle {store_name} for a month "
            f"({_usd(result.idle_per_month)}): the tokens cost more at any traffic."
        )
    else:
        lines.append(
            f"Crossover: at {_count(crossover)} conversations a month the model's tokens "
            f"({_usd(per_conversation)} a conversation) cost as much as the idle {store_name} "
            f"({_usd(result.idle_per_month)} a month); below that the idle store costs more, "
            "above it the tokens do."
        )
    return lines


def _advice(lever: Lever) -> str:
    if lever.kind == "always_on":
        return (
            "It is paid with no traffic at all: more conversations a month share it, and a "
            "document store without idle capacity would remove it."
        )
    if lever.kind == "tokens":
        return (
            "A cheaper model (see prices.yaml), fewer context tokens (CONTEXT_TOKEN_BUDGET, "
            "RAG_TOP_K) or shorter answers (MODEL_MAX_TOKENS) move it most."
        )
    return "Every other line is smaller."


def _rate(value: float) -> str:
    text = f"{value:.10f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _usd(value: float) -> str:
    return f"{value:,.4f}" if value < 10 else f"{value:,.2f}"


def _count(value: float, digits: int = 0) -> str:
    if digits and value != int(value):
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}"
