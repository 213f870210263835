"""The frames the chat server sends (docs/protocol.md), and the bound that fits an answer in one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from chatbot.errors import ChatbotError
from chatbot.ports import MAX_OUTGOING_FRAME_BYTES
from chatbot.records import (
    Citation,
    ConversationRecord,
    MessageStatus,
    QueryType,
    ToolRun,
    Usage,
)

# Every server frame fits API Gateway's limit (PROTOCOL.md). A question is at most 8000
# characters (protocol.MAX_CONTENT_CHARS), 48,000 bytes in JSON (a control character
# escapes as a six-byte \u sequence); an answer's ``message`` frame is bounded at 64 KB
# (its text by the delta stream, then its citations), so that a question with its answer
# always fits one ``history`` frame.
MAX_SERVER_FRAME_BYTES = MAX_OUTGOING_FRAME_BYTES
MAX_ANSWER_FRAME_BYTES = 64 * 1024
MAX_ANSWER_CONTENT_BYTES = 48_000
ANSWER_CUT_NOTE = "\n\n[The answer was cut short here: it was too long to send.]"


def json_bytes(text: str) -> int:
    """The bytes ``text`` takes inside a server frame's JSON (UTF-8, escapes, no quotes)."""
    return len(to_json(text)) - 2


class ServerFrame(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    def byte_size(self) -> int:
        """The frame's size as API Gateway counts it: bytes of UTF-8."""
        return len(self.to_json().encode())


class SessionFrame(ServerFrame):
    type: Literal["session"] = "session"
    sessionId: str
    sessionToken: str
    resumed: bool
    createdAt: str


class AckFrame(ServerFrame):
    type: Literal["ack"] = "ack"
    messageId: str
    sessionId: str
    timestamp: str
    duplicate: bool | None = None


class DeltaFrame(ServerFrame):
    type: Literal["delta"] = "delta"
    messageId: str
    index: int
    content: str


class MessageFrame(ServerFrame):
    type: Literal["message"] = "message"
    sessionId: str
    messageId: str
    content: str
    timestamp: str
    queryType: QueryType
    sources: list[str] = Field(default_factory=list)
    toolsUsed: list[str] = Field(default_factory=list)
    # Every tool call, in call order, and whether it succeeded; absent when none ran.
    tools: list[ToolRun] | None = None
    citations: list[Citation] | None = None
    usage: Usage | None = None
    # True when the user cancelled the answer: ``content`` is what was written until then.
    stopped: bool | None = None

    @classmethod
    def from_record(cls, answer: ConversationRecord) -> MessageFrame:
        """The answer's frame, bounded to MAX_ANSWER_FRAME_BYTES (see ``bounded_answer``)."""
        return cls._of(bounded_answer(answer))

    @classmethod
    def _of(cls, answer: ConversationRecord) -> MessageFrame:
        return cls(
            sessionId=answer.sessionId,
            messageId=answer.messageId,
            content=answer.content,
            timestamp=answer.timestamp,
            queryType=answer.queryType or QueryType.GENERAL,
            sources=answer.sources or [],
            toolsUsed=answer.toolsUsed or [],
            tools=answer.tools or None,
            citations=answer.citations,
            usage=answer.usage,
            stopped=True if answer.stopped else None,
        )


def bounded_answer(
    answer: ConversationRecord, max_bytes: int = MAX_ANSWER_FRAME_BYTES
) -> ConversationRecord:
    """The answer, cut until its ``message`` frame is at most ``max_bytes`` bytes.

    First the citations' excerpts (all to one length, longest kept possible, each marked with
    an ellipsis), then the content (with a note saying so), then the citations, sources and
    tool runs themselves. An answer that fits is returned as it is."""

    def fits(candidate: ConversationRecord) -> bool:
        return MessageFrame._of(candidate).byte_size() <= max_bytes

    if fits(answer):
        return answer
    citations = answer.citations or []
    if citations:
        longest = max(len(citation.excerpt) for citation in citations)

        def excerpts_cut_to(length: int) -> ConversationRecord:
            cut = [
                c
                if len(c.excerpt) <= length
                else c.model_copy(update={"excerpt": c.excerpt[:length] + "…"})
                for c in citations
            ]
            return answer.model_copy(update={"citations": cut})

        length = _largest(longest, lambda n: fits(excerpts_cut_to(n)))
        answer = excerpts_cut_to(max(length, 0))
        if fits(answer):
            return answer

    def content_cut_to(length: int) -> ConversationRecord:
        return answer.model_copy(update={"content": answer.content[:length] + ANSWER_CUT_NOTE})

    length = _largest(len(answer.content), lambda n: fits(content_cut_to(n)))
    if length >= 0:
        return content_cut_to(length)
    return content_cut_to(0).model_copy(update={"citations": None, "sources": [], "tools": None})


def _largest(upper: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 0..upper with fits(n) (fits is monotonic), or -1 if none."""
    low, high = 0, upper
    if not fits(low):
        return -1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


class HistoryEntry(BaseModel):
    messageId: str
    role: Literal["user", "assistant"]
    content: str
    timestamp: str
    queryType: QueryType | None = None
    sources: list[str] | None = None
    toolsUsed: list[str] | None = None
    tools: list[ToolRun] | None = None
    citations: list[Citation] | None = None
    feedback: Literal["up", "down"] | None = None
    status: MessageStatus | None = None
    stopped: bool | None = None

    @classmethod
    def from_record(cls, record: ConversationRecord) -> HistoryEntry:
        if record.messageType == "user":
            return cls(
                messageId=record.messageId,
                role="user",
                content=record.content,
                timestamp=record.timestamp,
                status=record.status,
            )
        record = bounded_answer(record)
        rating = (record.feedback or {}).get("rating")
        return cls(
            messageId=record.messageId,
            role="assistant",
            content=record.content,
            timestamp=record.timestamp,
            queryType=record.queryType,
            sources=record.sources or [],
            toolsUsed=record.toolsUsed or [],
            tools=record.tools or None,
            citations=record.citations,
            feedback=rating if rating in ("up", "down") else None,
            stopped=True if record.stopped else None,
        )

    def byte_size(self) -> int:
        return len(self.model_dump_json(exclude_none=True).encode())


class HistoryFrame(ServerFrame):
    type: Literal["history"] = "history"
    sessionId: str
    messages: list[HistoryEntry]
    hasMore: bool = False


class SessionSummary(BaseModel):
    sessionId: str
    sessionToken: str
    createdAt: str
    lastActivity: str
    # The session's first question, cut to SESSION_TITLE_CHARS ("" before the first).
    title: str


class SessionsFrame(ServerFrame):
    type: Literal["sessions"] = "sessions"
    sessions: list[SessionSummary]


class ErrorFrame(ServerFrame):
    type: Literal["error"] = "error"
    code: str
    message: str
    retryable: bool
    messageId: str | None = None

    @classmethod
    def from_error(cls, error: ChatbotError, message_id: str | None = None) -> ErrorFrame:
        return cls(
            code=error.code.value,
            message=error.public_message,
            retryable=error.retryable,
            messageId=message_id,
        )


class PongFrame(ServerFrame):
    type: Literal["pong"] = "pong"
