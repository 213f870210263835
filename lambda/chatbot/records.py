"""The data model: what the tables hold (sessions, conversations, analytics), the keys that
spread them over DynamoDB partitions, and document chunks."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field


class QueryType(StrEnum):
    RAG = "rag"
    GENERAL = "general"
    MCP_TOOL = "mcp_tool"


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z: sorts as text in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Record(BaseModel):
    """A table item. Field names are the stored attribute names."""

    model_config = ConfigDict(extra="ignore")

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Self:
        return cls.model_validate(item)


class Session(Record):
    sessionId: str
    createdAt: str
    lastActivity: str
    isActive: bool = True
    # Present only while active: the sparse ``byActivity`` index lists active sessions, in
    # PARTITION_SHARDS partitions (``activity_partition``).
    activityStatus: str | None = None
    closedAt: str | None = None
    closedReason: str | None = None
    userAgent: str | None = None
    # The signed-in user (the ID token's ``sub``) the session belongs to, when sign-in is on.
    userSub: str | None = None
    # The first question, cut to SESSION_TITLE_CHARS: what a list of sessions shows.
    title: str | None = None
    # Rate limiting: messages counted in the current one-minute window.
    rateWindow: int | None = None
    rateCount: int | None = None
    ttl: int | None = None


SESSION_TITLE_CHARS = 80


class Connection(Record):
    connectionId: str
    sessionId: str
    connectedAt: str
    resumed: bool = False
    ttl: int | None = None


class Citation(BaseModel):
    id: str
    source: str
    score: float
    excerpt: str


class ToolRun(BaseModel):
    """One tool call an answer made: the tool's name and whether the call succeeded."""

    name: str
    success: bool


class Usage(BaseModel):
    inputTokens: int = 0
    outputTokens: int = 0
    latencyMs: int = 0
    # Estimated USD for the tokens at the model's list price (chatbot.engine.pricing).
    costUsd: float = 0.0


MessageStatus = Literal["pending", "answered", "failed"]


class ConversationRecord(Record):
    sessionId: str
    recordId: str
    messageId: str
    timestamp: str
    messageType: Literal["user", "assistant"]
    content: str
    # User messages: where their answer stands, so a resend after a failure can retry.
    status: MessageStatus | None = None
    # When the current attempt to answer started: a resend may retry one that stalled.
    attemptedAt: str | None = None
    # Until when the current attempt holds its claim, and which engine run holds it: an
    # engine renews it while it works; a resend after it lapsed starts a new attempt.
    leaseUntil: str | None = None
    leaseHolder: str | None = None
    # User messages: the user asked (``cancel``) to stop the answer while it was pending.
    cancelRequested: bool | None = None
    # Answers: cancelled by the user; ``content`` is what was written until then.
    stopped: bool | None = None
    queryType: QueryType | None = None
    sources: list[str] | None = None
    toolsUsed: list[str] | None = None
    # Answers: every tool call, in call order, and whether it succeeded.
    tools: list[ToolRun] | None = None
    citations: list[Citation] | None = None
    usage: Usage | None = None
    responseTime: int | None = None
    feedback: dict[str, Any] | None = None
    ttl: int | None = None

    @staticmethod
    def record_id(message_id: str, role: Literal["user", "assistant"]) -> str:
        return f"{message_id}#{role}"


AnalyticsEventType = Literal[
    "query", "tool_usage", "session_created", "session_closed", "feedback", "error"
]


class AnalyticsRecord(Record):
    date: str
    eventId: str
    eventType: AnalyticsEventType
    sessionId: str
    timestamp: str
    details: dict[str, Any] = Field(default_factory=dict)
    ttl: int | None = None


# --- partition keys ----------------------------------------------------------------------
#
# DynamoDB serves about 1,000 write units a second per partition key value (and so per index
# partition), so no key may put all traffic of a kind under one value (docs/SCALE.md). The
# keys every session's traffic would share (the active sessions, a day's events, a day's
# events of one type) are split over PARTITION_SHARDS values; a session's shard is a stable
# hash of its id, so all of one session's items share a shard. Readers query every shard.
#
# 16 shards (docs/SCALE.md): the tightest key, the ``byActivity`` index, takes about 2.5 writes
# a message; at the design's 5,000 messages a second that is 12.5 partitions' worth evenly,
# 14.1 with the busiest shard's 1.13x excess in the simulation (tests/unit/partition_load.py);
# 16 is the next power of two. Raise it, never lower it: items keep the shard they were
# written under, and readers only look in shards 0 to PARTITION_SHARDS - 1.
PARTITION_SHARDS = 16


def shard_of(session_id: str, shards: int = PARTITION_SHARDS) -> int:
    """The session's shard: CRC-32 of its id (stable across processes and Python versions,
    unlike the salted ``hash()``), modulo ``shards``."""
    return zlib.crc32(session_id.encode()) % shards


def activity_partition(session_id: str) -> str:
    """The ``byActivity`` partition of an active session: ``active#0`` to ``active#15``."""
    return f"active#{shard_of(session_id)}"


def activity_partitions() -> list[str]:
    """Every ``byActivity`` partition: what cleanup reads."""
    return [f"active#{shard}" for shard in range(PARTITION_SHARDS)]


def day_partition(day: str, session_id: str) -> str:
    """The analytics table partition (``dateShard``) of a session's events on ``day``."""
    return f"{day}#{shard_of(session_id)}"


def day_partitions(day: str) -> list[str]:
    """Every analytics table partition of ``day``."""
    return [f"{day}#{shard}" for shard in range(PARTITION_SHARDS)]


def type_partition(event_type: str, day: str, session_id: str) -> str:
    """The ``byType`` partition (``typeShard``) of a session's events of a type on ``day``."""
    return f"{event_type}#{day}#{shard_of(session_id)}"


def type_partitions(event_type: str, day: str) -> list[str]:
    """Every ``byType`` partition of ``event_type`` on ``day``."""
    return [f"{event_type}#{day}#{shard}" for shard in range(PARTITION_SHARDS)]


# The stored attributes that only place an analytics event in its partitions: readers drop
# them, so an event reads back as the AnalyticsRecord that was written.
ANALYTICS_SHARD_ATTRIBUTES = ("dateShard", "typeShard")


def analytics_shard_keys(event_type: str, session_id: str, day: str) -> dict[str, str]:
    """The partition attributes an analytics event of ``session_id`` on ``day`` is stored with."""
    return {
        "dateShard": day_partition(day, session_id),
        "typeShard": type_partition(event_type, day, session_id),
    }


class DocumentChunk(BaseModel):
    id: str
    content: str
    source: str
    score: float
