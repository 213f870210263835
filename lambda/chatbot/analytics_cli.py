"""``chatbot analytics``: usage reports for analysts, from the local store or deployed tables."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from chatbot.adapters.store import table_store
from chatbot.analytics_report import (
    DETAIL_COLUMNS,
    EVENT_COLUMNS,
    DateRange,
    DaySummary,
    Event,
    flat_row,
    percentile,
    read_events,
    shown_details,
    summarize,
)
from chatbot.clock import Clock, SystemClock
from chatbot.config import Environment, Settings, load_settings
from chatbot.records import PARTITION_SHARDS, QueryType
from chatbot.tables import ANALYTICS, Table

EVENT_TYPES = ("query", "tool_usage", "session_created", "session_closed", "feedback", "error")
DEFAULT_DAYS = 7


class UsageError(Exception):
    """Something the analyst can fix: exit status 2 and the message."""


# ``read_events`` bound to the analytics table and to how many shards it reads at once.
EventReader = partial[Iterator[Event]]


def _readers(settings: Settings) -> int:
    # DynamoDB: every shard of a day at once, so a day costs about one round trip a page.
    # SQLite: one file behind one lock, where threads would only queue.
    return PARTITION_SHARDS if settings.chatbot_env is Environment.AWS else 1


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
    # The command's one clock: it names today and it is what the tables' TTL filter reads.
    clock = clock or SystemClock()
    try:
        dates = _date_range(args, clock.now().date())
        with analytics_table(settings, clock) as (table, where):
            read = partial(read_events, table, readers=_readers(settings))
            command: Callable[[argparse.Namespace, EventReader, DateRange, str, TextIO], int] = (
                args.run
            )
            return command(args, read, dates, where, out)
    except UsageError as error:
        sys.stderr.write(f"chatbot analytics: {error}\n")
        return 2
    except BrokenPipeError:
        # The reader stopped early (`| head`): not an error. Quiet the flush at exit.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot analytics",
        description="Usage reports over a date range (UTC days). Reads the local store "
        "(CHATBOT_STATE_DIR) by default, the deployed DynamoDB tables with CHATBOT_ENV=aws.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--from", dest="first", type=date.fromisoformat, metavar="YYYY-MM-DD", help="first day"
    )
    common.add_argument(
        "--to",
        dest="last",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="last day, included (default: today, UTC)",
    )
    common.add_argument(
        "--days",
        type=int,
        metavar="N",
        help=f"the last N days up to --to or today (default: {DEFAULT_DAYS} without --from)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser(
        "summary", parents=[common], help="figures by day: sessions, messages, latency, cost..."
    )
    summary.add_argument("--format", choices=("table", "json"), default="table")
    summary.set_defaults(run=_summary)
    events = commands.add_parser("events", parents=[common], help="list events, newest first")
    _add_filters(events)
    events.add_argument("--limit", type=int, default=50, metavar="N", help="default: 50")
    events.set_defaults(run=_events)
    export = commands.add_parser(
        "export", parents=[common], help="events as CSV or JSON Lines, oldest first"
    )
    _add_filters(export)
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--output", type=Path, metavar="FILE", help="default: stdout")
    export.set_defaults(run=_export)
    chart = commands.add_parser("chart", parents=[common], help="PNG charts of the daily figures")
    chart.add_argument(
        "--output", type=Path, metavar="FILE", help="default: analytics-FROM-TO.png here"
    )
    chart.set_defaults(run=_chart)
    return parser


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", choices=EVENT_TYPES, help="only events of this type")
    parser.add_argument("--session", metavar="ID", help="only this session's events")


def _date_range(args: argparse.Namespace, today: date) -> DateRange:
    try:
        if args.days is not None and args.first is not None:
            raise UsageError("give --from or --days, not both")
        last = args.last or today
        if args.first is not None:
            return DateRange(args.first, last)
        return DateRange.last_days(args.days or DEFAULT_DAYS, last)
    except ValueError as error:
        raise UsageError(str(error)) from None


@contextmanager
def analytics_table(settings: Settings, clock: Clock) -> Iterator[tuple[Table, str]]:
    """The analytics table CHATBOT_ENV selects, and a description of where it is."""
    if settings.chatbot_env is Environment.AWS:
        where = f"DynamoDB {settings.analytics_table} in {settings.aws_region}"
    elif settings.sqlite_path.is_file():
        where = str(settings.sqlite_path)
    else:
        # Opening it would create an empty store; an analyst wants to know it is not there.
        path = settings.sqlite_path
        raise UsageError(f"no local store at {path}: run `chatbot serve` or set CHATBOT_STATE_DIR")
    store = table_store(settings, clock)
    try:
        yield store.table(ANALYTICS), where
    finally:
        store.close()


# --- summary -----------------------------------------------------------------------------


def _summary(
    args: argparse.Namespace, read: EventReader, dates: DateRange, where: str, out: TextIO
) -> int:
    days, total = summarize(read(dates), dates)
    if args.format == "json":
        json.dump([summary_as_dict(day) for day in (*days, total)], out, indent=2)
        out.write("\n")
        return 0
    out.write(f"Analytics {dates.first} to {dates.last} ({where})\n\n")
    out.write(daily_table(days, total) + "\n")
    for title, headers, rows in breakdowns(total):
        out.write(f"\n{title}\n{render_table(headers, rows)}\n")
    return 0


def daily_table(days: Sequence[DaySummary], total: DaySummary) -> str:
    types = _query_types(total)
    headers = [
        "day",
        "sessions",
        "active",
        "closed",
        "messages",
        *types,
        "tool calls",
        "tool fails",
        "errors",
        "feedback +/-",
        "p50 ms",
        "p95 ms",
        "tokens in",
        "tokens out",
        "cost USD",
    ]
    rows = [_daily_row(day, types) for day in days]
    rows.append(_daily_row(total, types, label="total"))
    return render_table(headers, rows)


def _daily_row(day: DaySummary, types: Sequence[str], label: str | None = None) -> list[str]:
    return [
        label or day.day,
        _count(day.sessions_created),
        _count(day.active_sessions),
        _count(day.sessions_closed),
        _count(day.messages),
        *(_count(day.query_types[name]) for name in types),
        _count(day.tool_calls),
        _count(day.tool_failures),
        _count(sum(day.errors.values())),
        f"{day.feedback['up']}/{day.feedback['down']}",
        _millis(day.latency_p50_ms),
        _millis(day.latency_p95_ms),
        _count(day.input_tokens),
        _count(day.output_tokens),
        f"{day.cost_usd:.4f}",
    ]


def breakdowns(total: DaySummary) -> list[tuple[str, list[str], list[list[str]]]]:
    """The range's totals by query type, router, tool, error code and rating."""
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    if total.messages:
        rows = [
            [
                name,
                _count(total.query_types[name]),
                f"{total.query_types[name] / total.messages:.0%}",
            ]
            for name in _query_types(total)
        ]
        tables.append(("Messages by query type", ["query type", "messages", "share"], rows))
    if total.routed_by:
        rows = [[name, _count(count)] for name, count in total.routed_by.most_common()]
        tables.append(("Messages by router", ["routed by", "messages"], rows))
    if total.grounding:
        rows = [[name, _count(count)] for name, count in total.grounding.most_common()]
        tables.append(("Documents answers", ["citations", "answers"], rows))
    if total.tools:
        rows = [
            [
                name,
                _count(tool.calls),
                _count(tool.failures),
                _millis(percentile(tool.latencies_ms, 50)),
                _millis(percentile(tool.latencies_ms, 95)),
            ]
            for name, tool in sorted(total.tools.items(), key=lambda pair: -pair[1].calls)
        ]
        tables.append(("Tool usage", ["tool", "calls", "failures", "p50 ms", "p95 ms"], rows))
    if total.errors:
        rows = [[code, _count(count)] for code, count in total.errors.most_common()]
        tables.append(("Errors", ["code", "count"], rows))
    if total.refused_handshakes:
        rows = [[name, _count(count)] for name, count in total.refused_handshakes.most_common()]
        tables.append(("Refused handshakes", ["status and reason", "count"], rows))
    if total.feedback:
        rows = [[rating, _count(count)] for rating, count in total.feedback.most_common()]
        tables.append(("Feedback", ["rating", "count"], rows))
    return tables


def summary_as_dict(day: DaySummary) -> dict[str, Any]:
    return {
        "day": day.day,
        "sessionsCreated": day.sessions_created,
        "activeSessions": day.active_sessions,
        "sessionsClosed": day.sessions_closed,
        "messages": day.messages,
        "queryTypes": dict(day.query_types),
        "routedBy": dict(day.routed_by),
        "grounding": dict(day.grounding),
        "toolCalls": {name: tool.calls for name, tool in day.tools.items()},
        "toolFailures": {name: tool.failures for name, tool in day.tools.items()},
        "errors": dict(day.errors),
        "refusedHandshakes": dict(day.refused_handshakes),
        "feedback": dict(day.feedback),
        "latencyP50Ms": day.latency_p50_ms,
        "latencyP95Ms": day.latency_p95_ms,
        "inputTokens": day.input_tokens,
        "outputTokens": day.output_tokens,
        "costUsd": round(day.cost_usd, 6),
    }


def _query_types(total: DaySummary) -> list[str]:
    known = [kind.value for kind in QueryType]
    return known + sorted(set(total.query_types) - set(known))


# --- events and export -------------------------------------------------------------------


def _events(
    args: argparse.Namespace, read: EventReader, dates: DateRange, where: str, out: TextIO
) -> int:
    found = list(
        read(
            dates,
            event_type=args.type,
            session_id=args.session,
            newest_first=True,
            limit=args.limit,
        )
    )
    rows = [
        [
            str(event.get("timestamp", "")),
            str(event.get("eventType", "")),
            str(event.get("sessionId", "")),
            json.dumps(shown_details(event), sort_keys=True, separators=(",", ":")),
        ]
        for event in found
    ]
    out.write(render_table(["timestamp", "type", "session", "details"], rows) + "\n")
    more = " (the limit; --limit N shows more)" if len(found) == args.limit else ""
    out.write(f"\n{len(found)} events, newest first{more}, {dates.first} to {dates.last}\n")
    return 0


def _export(
    args: argparse.Namespace, read: EventReader, dates: DateRange, where: str, out: TextIO
) -> int:
    events = read(dates, event_type=args.type, session_id=args.session)
    if args.output is None:
        count = write_export(events, args.format, out)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as file:
            count = write_export(events, args.format, file)
        sys.stderr.write(f"{count} events written to {args.output}\n")
    return 0


def write_export(events: Iterator[dict[str, Any]], kind: str, out: TextIO) -> int:
    """Write events as ``csv`` (one column per common field, ``details`` as JSON) or ``jsonl``."""
    count = 0
    if kind == "jsonl":
        for event in events:
            out.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(out, fieldnames=[*EVENT_COLUMNS, *DETAIL_COLUMNS, "details"])
    writer.writeheader()
    for event in events:
        row = flat_row(event)
        row["details"] = json.dumps(row["details"], sort_keys=True, ensure_ascii=False)
        writer.writerow(row)
        count += 1
    return count


# --- chart -------------------------------------------------------------------------------


def _chart(
    args: argparse.Namespace, read: EventReader, dates: DateRange, where: str, out: TextIO
) -> int:
    # matplotlib is imported here only: no Lambda bundle has it and `chatbot --help` stays fast.
    from chatbot.analytics_chart import render_chart

    days, _ = summarize(read(dates), dates)
    path = args.output or Path(f"analytics-{dates.first}-{dates.last}.png")
    render_chart(days, path, title=f"Chatbot usage {dates.first} to {dates.last}")
    out.write(f"chart written to {path}\n")
    return 0


# --- terminal tables ---------------------------------------------------------------------


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; numbers (and '-') right-aligned."""
    if not rows:
        return "(no events)"
    widths = [max(len(h), *(len(row[n]) for row in rows)) for n, h in enumerate(headers)]
    numeric = [all(_looks_numeric(row[n]) for row in rows) for n in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _looks_numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace(".", "").replace("/", "").replace("%", "")
    return cell == "-" or stripped.isdigit()


def _count(value: int) -> str:
    return f"{value:,}"


def _millis(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
