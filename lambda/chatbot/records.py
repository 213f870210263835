"""The data model: what the tables hold (sessions, conversations, analytics) and document chunks."""

from __future__ import annotations

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
    # Present only while active: the sparse ``byActivity`` index lists active sessions.
    activityStatus: Literal["active"] | None = None
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


class DocumentChunk(BaseModel):
    id: str
    content: str
    source: str
    score: float
