"""The traffic the cost model prices: stated assumptions, or what the analytics recorded.

Recorded ``query`` events give messages, conversations (the sessions that asked), tokens in
and out by model, latency and the share of tools answers; everything else stays assumed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from chatbot.cost.estimate import ModelTokens, Traffic

# Average tokens of an answer on the stack's default model: the system prompt, up to
# CONTEXT_TOKEN_BUDGET (3,000) of earlier turns, the question and, on the documents path,
# RAG_TOP_K (5) chunks of up to 1,200 characters; about 400 tokens (1,600 characters) out.
DEFAULT_INPUT_TOKENS = 3000
DEFAULT_OUTPUT_TOKENS = 400
HOURS_PER_DAY = 24


def assumed_traffic(
    model_id: str, embedding_model: str, overrides: Mapping[str, float] | None = None
) -> Traffic:
    """Every figure assumed: ``overrides`` by field name, the defaults for the rest."""
    tokens = (ModelTokens(model_id, DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS),)
    return Traffic(tokens=tokens, embedding_model=embedding_model).assuming(overrides or {})


def measured_traffic(
    queries: Iterable[dict[str, Any]],
    days: int,
    base: Traffic,
    *,
    hours_per_month: float,
) -> Traffic | None:
    """``base`` with what ``days`` days of recorded ``query`` events measured, or None when
    there are none: messages per conversation, conversations a month, tokens in and out by
    model (per turn, averaged over all turns), answer latency and the tools share."""
    sessions: set[str] = set()
    messages = 0
    tools = 0
    latencies: list[float] = []
    by_model: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for event in queries:
        details = event.get("details") or {}
        messages += 1
        sessions.add(str(event.get("sessionId", "")))
        if details.get("queryType") == "mcp_tool":
            tools += 1
        latency = _number(details.get("latencyMs"))
        if latency is not None:
            latencies.append(latency)
        counts = by_model[str(details.get("model") or "unknown")]
        counts[0] += _number(details.get("inputTokens")) or 0.0
        counts[1] += _number(details.get("outputTokens")) or 0.0
    if not messages:
        return None
    tokens = tuple(
        ModelTokens(model, totals[0] / messages, totals[1] / messages)
        for model, totals in sorted(by_model.items())
    )
    measured = {
        "turns_per_conversation": messages / len(sessions),
        "conversations_per_month": len(sessions) * hours_per_month / (days * HOURS_PER_DAY),
        "tools_share": tools / messages,
    }
    if latencies:
        measured["answer_seconds"] = sum(latencies) / len(latencies) / 1000
    return replace(
        base.assuming(measured), tokens=tokens, measured=frozenset({*measured, "tokens"})
    )


def repriced(traffic: Traffic, model_id: str) -> Traffic:
    """``traffic`` with all its tokens sent to ``model_id`` (recorded on the offline model,
    say, priced as if Claude had answered)."""
    tokens = ModelTokens(
        model_id,
        sum(m.input_per_turn for m in traffic.tokens),
        sum(m.output_per_turn for m in traffic.tokens),
    )
    return replace(traffic, tokens=(tokens,))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
