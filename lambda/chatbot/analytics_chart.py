"""PNG charts of the daily analytics figures (matplotlib, Agg; imported by ``chart`` only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from chatbot.analytics_report import DaySummary
from chatbot.records import QueryType

# 1500 x 900 pixels: readable on a laptop screen and in a pull request.
FIGURE_INCHES = (15.0, 9.0)
DPI = 100


def render_chart(days: Sequence[DaySummary], path: Path, *, title: str) -> None:
    """Six panels over the days: sessions and messages, query types, latency, tokens, cost,
    and errors, tool failures and feedback."""
    # A Figure with its own Agg canvas, not pyplot: no global state, no GUI backend.
    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title)
    labels = [day.day[5:] for day in days]
    positions = list(range(len(days)))
    grid = figure.subplots(2, 3)
    sessions, kinds, latency = grid[0]
    tokens, cost, problems = grid[1]

    sessions.plot(positions, [d.sessions_created for d in days], marker="o", label="sessions")
    sessions.plot(positions, [d.active_sessions for d in days], marker="o", label="active")
    sessions.plot(positions, [d.messages for d in days], marker="o", label="messages")
    _finish(sessions, "Sessions and messages", "count", labels)

    bottom = [0.0] * len(days)
    names = [kind.value for kind in QueryType]
    names += sorted({name for day in days for name in day.query_types} - set(names))
    for name in names:
        heights = [float(day.query_types[name]) for day in days]
        kinds.bar(positions, heights, bottom=bottom, label=name)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    _finish(kinds, "Messages by query type", "messages", labels)

    latency.plot(positions, [_or_nan(d.latency_p50_ms) for d in days], marker="o", label="p50")
    latency.plot(positions, [_or_nan(d.latency_p95_ms) for d in days], marker="o", label="p95")
    _finish(latency, "Answer latency", "ms", labels)

    inputs = [float(d.input_tokens) for d in days]
    tokens.bar(positions, inputs, label="input")
    tokens.bar(positions, [float(d.output_tokens) for d in days], bottom=inputs, label="output")
    _finish(tokens, "Tokens", "tokens", labels)

    cost.bar(positions, [d.cost_usd for d in days], label="estimated cost")
    _finish(cost, "Estimated model cost", "USD", labels)

    problems.plot(positions, [sum(d.errors.values()) for d in days], marker="o", label="errors")
    problems.plot(positions, [d.tool_failures for d in days], marker="o", label="tool failures")
    problems.plot(positions, [d.feedback["up"] for d in days], marker="^", label="feedback up")
    problems.plot(positions, [d.feedback["down"] for d in days], marker="v", label="feedback down")
    _finish(problems, "Errors and feedback", "count", labels)

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def _finish(axes: Axes, title: str, unit: str, labels: list[str]) -> None:
    axes.set_title(title)
    axes.set_ylabel(unit)
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 10 else 0)
    axes.set_ylim(bottom=0)
    if unit in ("count", "messages", "tokens"):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value
