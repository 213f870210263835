"""The cost model: what a number of conversations cost in AWS, line by line.

Pure arithmetic over a ``Traffic`` (what the conversations do: every figure an assumption
or a measurement, all printed) and a ``PriceSheet`` (the list prices). Always-on capacity
(the document store's minimum, the cleanup schedule) is billed by the month whatever the
traffic, so it is charged to the conversations in proportion to the month they fill:
``conversations / conversations_per_month`` of a month.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from chatbot.cost.prices import PriceSheet, VectorStorePrices

MILLION = 1_000_000
# Assumptions the model divides by: they must be more than 0 (every other, 0 or more).
DIVISORS = frozenset(
    {"conversations", "conversations_per_month", "chars_per_delta", "cleanup_rate_minutes"}
)
GB = 1024 * 1024  # KB in a GB
TB = 1024  # GB in a TB


def assumption(default: float, label: str) -> float:
    """A field of ``Traffic``, with the label the command prints beside its value."""
    value: float = field(default=default, metadata={"label": label})
    return value


@dataclass(frozen=True)
class ModelTokens:
    """Tokens a turn sends to and gets from one model, on average over all turns."""

    model_id: str
    input_per_turn: float
    output_per_turn: float


@dataclass(frozen=True)
class Traffic:
    """What the priced conversations do. Defaults are stated assumptions (docs/COST.md says
    where each comes from); ``chatbot cost --days N`` measures the first ones instead."""

    tokens: tuple[ModelTokens, ...]
    embedding_model: str
    conversations: float = assumption(1000, "conversations priced")
    conversations_per_month: float = assumption(
        1000, "conversations a month (spreads the always-on costs)"
    )
    turns_per_conversation: float = assumption(10, "turns (question and answer) per conversation")
    answer_seconds: float = assumption(7.0, "engine seconds per answer (its latency)")
    tools_share: float = assumption(0.2, "share of turns answered with tools (MCP server)")
    embedding_tokens_per_turn: float = assumption(
        100, "embedding tokens per turn (router and search query)"
    )
    chars_per_token: float = assumption(4, "answer characters per output token")
    chars_per_delta: float = assumption(
        40, "answer characters per delta frame (bench/results/streaming.md)"
    )
    frames_per_turn: float = assumption(3, "other frames per turn (question, ack, final message)")
    frames_per_conversation: float = assumption(2, "frames per conversation (session, history)")
    connection_minutes_per_conversation: float = assumption(
        15, "WebSocket connection minutes per conversation"
    )
    websocket_invocations_per_conversation: float = assumption(
        2, "websocket handler runs per conversation ($connect, $disconnect)"
    )
    websocket_invocations_per_turn: float = assumption(1, "websocket handler runs per turn")
    websocket_seconds: float = assumption(0.1, "websocket handler seconds per run")
    websocket_memory_gb: float = assumption(0.5, "websocket handler memory, GB")
    engine_memory_gb: float = assumption(1.0, "engine memory, GB")
    mcp_invocations_per_tools_turn: float = assumption(
        4, "MCP server runs per tools turn (one per JSON-RPC message)"
    )
    mcp_seconds: float = assumption(0.3, "MCP server seconds per run")
    mcp_memory_gb: float = assumption(1.0, "MCP server memory, GB")
    cleanup_rate_minutes: float = assumption(5, "session cleanup schedule, minutes")
    cleanup_seconds: float = assumption(0.2, "session cleanup seconds per run")
    cleanup_memory_gb: float = assumption(0.5, "session cleanup memory, GB")
    # DynamoDB units: counted on the local twin (SQLite, same items) over a 10-turn offline
    # conversation: 115 write and 179 read units in its turns, 11 write units to open and close.
    write_units_per_turn: float = assumption(12, "DynamoDB write units per turn")
    write_units_per_conversation: float = assumption(11, "DynamoDB write units per conversation")
    read_units_per_turn: float = assumption(17, "DynamoDB read units per turn")
    read_units_per_answer_second: float = assumption(
        2, "DynamoDB read units per answer second (cancel checks)"
    )
    stored_kb_per_conversation: float = assumption(40, "DynamoDB KB stored per conversation")
    log_kb_per_turn: float = assumption(3, "CloudWatch log KB per turn (all functions, access log)")
    index_gb: float = assumption(0.1, "document index size, GB")
    # The engine's hybrid search (the S3 Vectors adapter) makes a vector and a keyword query;
    # every turn is counted as searching, an upper bound when some answer from tools alone.
    searches_per_turn: float = assumption(
        2, "document store queries per turn (hybrid: vector and keyword)"
    )
    # Which figures came from recorded analytics rather than the defaults (by field name).
    measured: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in assumption_names():
            value = getattr(self, name)
            if value < 0 or (value == 0 and name in DIVISORS):
                bound = "more than 0" if name in DIVISORS else "0 or more"
                raise ValueError(f"{name} must be {bound}, not {value:g}")

    def assuming(self, values: Mapping[str, float]) -> Traffic:
        """This traffic with the assumptions ``values`` names set to their values."""
        unknown = set(values) - set(assumption_names())
        if unknown:
            raise ValueError(f"not an assumption: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = dict(values)
        return replace(self, **changes)

    @property
    def turns(self) -> float:
        return self.conversations * self.turns_per_conversation

    @property
    def month_share(self) -> float:
        """The part of a month the priced conversations fill."""
        return self.conversations / self.conversations_per_month


def assumption_names() -> list[str]:
    """The numeric assumptions of ``Traffic``, which ``--assume NAME=VALUE`` may set."""
    return [f.name for f in fields(Traffic) if "label" in f.metadata]


@dataclass(frozen=True)
class CostLine:
    """One line of the bill: ``quantity`` units at ``rate`` USD per ``per`` units."""

    service: str
    item: str
    quantity: float
    unit: str
    rate: float
    per: float = 1.0
    # Billed by the hour whatever the traffic: the idle cost.
    always_on: bool = False
    # The model's tokens: what the crossover weighs against the idle cost.
    tokens: bool = False

    @property
    def cost(self) -> float:
        return self.quantity / self.per * self.rate


@dataclass(frozen=True)
class Lever:
    name: str
    cost: float
    kind: Literal["always_on", "tokens", "other"]


@dataclass(frozen=True)
class Estimate:
    traffic: Traffic
    vector_store: str
    lines: tuple[CostLine, ...]
    hours_per_month: float
    # What the document store costs a month with no traffic at all.
    idle_per_month: float

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    @property
    def per_conversation(self) -> float:
        return self.total / self.traffic.conversations

    @property
    def token_cost(self) -> float:
        return sum(line.cost for line in self.lines if line.tokens)

    @property
    def levers(self) -> list[Lever]:
        """What could be cut, largest first: each line, but the model's tokens (input and
        output, every model) as one, since one choice (the model, the context) moves them."""
        levers = [
            Lever(
                f"{line.service} {line.item}", line.cost, "always_on" if line.always_on else "other"
            )
            for line in self.lines
            if not line.tokens
        ]
        if any(line.tokens for line in self.lines):
            levers.append(
                Lever("Bedrock model tokens (input and output)", self.token_cost, "tokens")
            )
        return sorted(levers, key=lambda lever: -lever.cost)

    @property
    def biggest(self) -> Lever:
        return self.levers[0]

    @property
    def crossover_per_month(self) -> float | None:
        """Conversations a month at which the model's tokens cost as much as the idle
        document store; None when the tokens cost nothing (an unpriced model)."""
        per_conversation = self.token_cost / self.traffic.conversations
        if per_conversation <= 0:
            return None
        return self.idle_per_month / per_conversation


def estimate(traffic: Traffic, prices: PriceSheet, vector_store: str = "opensearch") -> Estimate:
    if vector_store not in VECTOR_STORE_LINES or vector_store not in prices.vector_stores:
        raise ValueError(f"no price model for the vector store {vector_store!r}")
    store = prices.vector_stores[vector_store]
    idle, store_lines = VECTOR_STORE_LINES[vector_store](traffic, store, prices.hours_per_month)
    lines = (
        *_websocket_lines(traffic, prices),
        *_lambda_lines(traffic, prices),
        *_dynamodb_lines(traffic, prices),
        *_model_lines(traffic, prices),
        *store_lines,
        *_log_lines(traffic, prices),
    )
    return Estimate(traffic, vector_store, lines, prices.hours_per_month, idle)


def _websocket_lines(traffic: Traffic, prices: PriceSheet) -> list[CostLine]:
    rates = prices.services.api_gateway_websocket
    output_chars = sum(m.output_per_turn for m in traffic.tokens) * traffic.chars_per_token
    deltas = output_chars / traffic.chars_per_delta
    messages = (
        traffic.turns * (traffic.frames_per_turn + deltas)
        + traffic.conversations * traffic.frames_per_conversation
    )
    minutes = traffic.conversations * traffic.connection_minutes_per_conversation
    return [
        CostLine("API Gateway", "WebSocket messages", messages, "messages",
                 rates.per_million_messages, MILLION),
        CostLine("API Gateway", "connection minutes", minutes, "minutes",
                 rates.per_million_connection_minutes, MILLION),
    ]  # fmt: skip


def _lambda_lines(traffic: Traffic, prices: PriceSheet) -> list[CostLine]:
    rates = prices.services.lambda_arm64
    websocket_runs = (
        traffic.conversations * traffic.websocket_invocations_per_conversation
        + traffic.turns * traffic.websocket_invocations_per_turn
    )
    mcp_runs = traffic.turns * traffic.tools_share * traffic.mcp_invocations_per_tools_turn
    cleanup_runs = prices.hours_per_month * 60 / traffic.cleanup_rate_minutes * traffic.month_share
    gb_seconds = (
        websocket_runs * traffic.websocket_seconds * traffic.websocket_memory_gb
        + traffic.turns * traffic.answer_seconds * traffic.engine_memory_gb
        + mcp_runs * traffic.mcp_seconds * traffic.mcp_memory_gb
    )
    runs = websocket_runs + traffic.turns + mcp_runs
    return [
        CostLine("Lambda", "GB-seconds (arm64)", gb_seconds, "GB-s", rates.per_gb_second),
        CostLine("Lambda", "requests", runs, "requests", rates.per_million_requests, MILLION),
        # The cleanup runs on its schedule whether or not anyone chats.
        CostLine("Lambda", "GB-seconds, session cleanup",
                 cleanup_runs * traffic.cleanup_seconds * traffic.cleanup_memory_gb, "GB-s",
                 rates.per_gb_second, always_on=True),
    ]  # fmt: skip


def _dynamodb_lines(traffic: Traffic, prices: PriceSheet) -> list[CostLine]:
    rates = prices.services.dynamodb_on_demand
    writes = (
        traffic.turns * traffic.write_units_per_turn
        + traffic.conversations * traffic.write_units_per_conversation
    )
    reads = traffic.turns * (
        traffic.read_units_per_turn + traffic.read_units_per_answer_second * traffic.answer_seconds
    )
    # Kept for a month (sessionRetentionDays, 30 by default) before TTL removes it.
    gb_months = traffic.conversations * traffic.stored_kb_per_conversation / GB
    return [
        CostLine("DynamoDB", "write request units", writes, "WRU",
                 rates.per_million_write_units, MILLION),
        CostLine("DynamoDB", "read request units", reads, "RRU",
                 rates.per_million_read_units, MILLION),
        CostLine("DynamoDB", "storage, one month", gb_months, "GB-month", rates.per_gb_month),
    ]  # fmt: skip


def _model_lines(traffic: Traffic, prices: PriceSheet) -> list[CostLine]:
    lines: list[CostLine] = []
    for model in traffic.tokens:
        price = prices.model_price(model.model_id)
        input_rate, output_rate = (
            (0.0, 0.0) if price is None else (price.input_per_mtok, price.output_per_mtok)
        )
        for kind, per_turn, rate in (
            ("input", model.input_per_turn, input_rate),
            ("output", model.output_per_turn, output_rate),
        ):
            lines.append(
                CostLine(
                    "Bedrock",
                    f"{model.model_id} {kind} tokens" + (" (unpriced)" if price is None else ""),
                    traffic.turns * per_turn,
                    "tokens",
                    rate,
                    MILLION,
                    tokens=True,
                )
            )
    embedding = prices.embedding_price(traffic.embedding_model)
    lines.append(
        CostLine(
            "Bedrock",
            f"{traffic.embedding_model} tokens" + (" (unpriced)" if embedding is None else ""),
            traffic.turns * traffic.embedding_tokens_per_turn,
            "tokens",
            0.0 if embedding is None else embedding.input_per_mtok,
            MILLION,
        )
    )
    return lines


def _log_lines(traffic: Traffic, prices: PriceSheet) -> list[CostLine]:
    rates = prices.services.cloudwatch_logs
    gb = traffic.turns * traffic.log_kb_per_turn / GB
    return [
        CostLine("CloudWatch Logs", "ingestion", gb, "GB", rates.per_gb_ingested),
        CostLine("CloudWatch Logs", "storage, one month", gb, "GB-month", rates.per_gb_month),
    ]


# --- document stores: one function per store, returning its idle monthly cost and lines ----

VectorStoreLines = Callable[[Traffic, VectorStorePrices, float], tuple[float, list[CostLine]]]


def _opensearch_lines(
    traffic: Traffic, store: VectorStorePrices, hours_per_month: float
) -> tuple[float, list[CostLine]]:
    # At the stack's traffic the minimum OCUs serve every search: they bill by the hour,
    # searched or not, so the conversations pay for the share of the month they fill.
    ocus = store.rate("minimum_ocus")
    per_ocu_hour = store.rate("per_ocu_hour")
    idle = ocus * hours_per_month * per_ocu_hour
    lines = [
        CostLine(store.name, "OCU-hours (the minimum)",
                 ocus * hours_per_month * traffic.month_share, "OCU-hours", per_ocu_hour,
                 always_on=True),
        CostLine(store.name, "index storage", traffic.index_gb * traffic.month_share, "GB-month",
                 store.rate("per_gb_month"), always_on=True),
    ]  # fmt: skip
    return idle, lines


def _s3vectors_lines(
    traffic: Traffic, store: VectorStorePrices, hours_per_month: float
) -> tuple[float, list[CostLine]]:
    # Nothing bills by the hour: idle, the index is only stored. Every query is priced as
    # processing the whole index (one rate, whatever its size: prices.yaml says why).
    del hours_per_month
    per_gb_month = store.rate("per_gb_month")
    queries = traffic.turns * traffic.searches_per_turn
    idle = traffic.index_gb * per_gb_month
    lines = [
        CostLine(store.name, "index storage", traffic.index_gb * traffic.month_share, "GB-month",
                 per_gb_month, always_on=True),
        CostLine(store.name, "query requests", queries, "queries",
                 store.rate("per_million_queries"), MILLION),
        CostLine(store.name, "query data processed", queries * traffic.index_gb / TB, "TB",
                 store.rate("per_tb_processed")),
    ]  # fmt: skip
    return idle, lines


VECTOR_STORE_LINES: dict[str, VectorStoreLines] = {
    "opensearch": _opensearch_lines,
    "s3vectors": _s3vectors_lines,
}


def idle_per_month(prices: PriceSheet, vector_store: str, traffic: Traffic | None = None) -> float:
    """What ``vector_store`` costs a month with no traffic at all, for ``traffic``'s index
    (the default assumptions' when none is given)."""
    if vector_store not in VECTOR_STORE_LINES or vector_store not in prices.vector_stores:
        raise ValueError(f"no price model for the vector store {vector_store!r}")
    traffic = traffic or Traffic(tokens=(), embedding_model="")
    store = prices.vector_stores[vector_store]
    idle, _ = VECTOR_STORE_LINES[vector_store](traffic, store, prices.hours_per_month)
    return idle
