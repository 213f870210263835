"""The WebSocket chat protocol (docs/protocol.md): client frames in, server frames out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from itertools import accumulate
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import to_json

from chatbot.errors import (
    ChatbotError,
    InvalidMessageError,
    MessageTooLargeError,
    UnknownActionError,
)
from chatbot.ports import MAX_OUTGOING_FRAME_BYTES
from chatbot.records import (
    Citation,
    ConversationRecord,
    MessageStatus,
    QueryType,
    ToolRun,
    Usage,
)

MAX_CONTENT_CHARS = 8000
# Every server frame fits API Gateway's limit (PROTOCOL.md). A question is at most 8000
# characters, 48,000 bytes in JSON (a control character escapes as a six-byte \u
# sequence); an answer's ``message`` frame is bounded at 64 KB (its text by the delta
# stream, then its citations), so that a question with its answer always fits one
# ``history`` frame.
MAX_SERVER_FRAME_BYTES = MAX_OUTGOING_FRAME_BYTES
MAX_ANSWER_FRAME_BYTES = 64 * 1024
MAX_ANSWER_CONTENT_BYTES = 48_000
ANSWER_CUT_NOTE = "\n\n[The answer was cut short here: it was too long to send.]"
MAX_COMMENT_CHARS = 1000
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

MessageId = Annotated[str, StringConstraints(pattern=MESSAGE_ID_PATTERN)]
_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)


class ClientFrame(BaseModel):
    # Strict: "5" is not a limit and 1 is not a string. Unknown fields are ignored so that
    # newer clients keep working.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class GetSessionFrame(ClientFrame):
    action: Literal["getSession"]


class PingFrame(ClientFrame):
    action: Literal["ping"]


class SendMessageFrame(ClientFrame):
    action: Literal["sendMessage"]
    messageId: MessageId
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    sessionId: str | None = None
    timestamp: str | None = None
    messageType: Literal["user"] = "user"

    @field_validator("content", mode="before")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("timestamp")
    @classmethod
    def _iso_8601(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value


class GetHistoryFrame(ClientFrame):
    action: Literal["getHistory"]
    limit: int = Field(50, ge=1, le=100)
    before: MessageId | None = None


class FeedbackFrame(ClientFrame):
    action: Literal["feedback"]
    messageId: MessageId
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)


class CancelFrame(ClientFrame):
    action: Literal["cancel"]
    messageId: MessageId


class ListSessionsFrame(ClientFrame):
    action: Literal["listSessions"]


AnyClientFrame = (
    GetSessionFrame
    | PingFrame
    | SendMessageFrame
    | GetHistoryFrame
    | CancelFrame
    | ListSessionsFrame
    | FeedbackFrame
)

FRAME_TYPES: dict[str, type[AnyClientFrame]] = {
    "getSession": GetSessionFrame,
    "ping": PingFrame,
    "sendMessage": SendMessageFrame,
    "getHistory": GetHistoryFrame,
    "cancel": CancelFrame,
    "listSessions": ListSessionsFrame,
    "feedback": FeedbackFrame,
}
ACTIONS = tuple(FRAME_TYPES)


class FrameError(ChatbotError):
    """Wraps a frame error with the messageId the frame carried, so the reply can name it.

    ``fields`` names where the frame was wrong (protocol field names, never their values),
    which is all a log may say about it unless user content may be logged."""

    def __init__(
        self, error: ChatbotError, message_id: str | None, fields: tuple[str, ...] = ()
    ) -> None:
        super().__init__(str(error), public_message=error.public_message)
        self.error = error
        self.code = error.code
        self.retryable = error.retryable
        self.message_id = message_id
        self.fields = fields


# No frame of the protocol nests deeper than 2 (an object holding an object); 32 leaves room
# for any extension while staying far below what json.loads can recurse into (Python's
# recursion limit, 1,000) and keeping validation of a frame cheap.
MAX_NESTING_DEPTH = 32
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nested_too_deep(raw: bytes, limit: int = MAX_NESTING_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than ``limit``, before parsing.

    Counts ``[`` and ``{`` outside strings (escapes dropped first, so every ``"`` left is a
    delimiter). Linear in the frame, with no backtracking; frames with few brackets return
    at once. Text after the first value cannot mislead it: json.loads parses one value."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


def parse_client_frame(body: str | bytes | None, *, max_bytes: int) -> AnyClientFrame:
    """Parse and validate one client frame, or raise FrameError with the protocol code."""
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > max_bytes:
        raise FrameError(MessageTooLargeError(f"frame of {len(raw)} bytes"), None)
    if nested_too_deep(raw):
        raise FrameError(
            InvalidMessageError(
                "frame nested too deep",
                public_message=(
                    f"Frames may nest arrays and objects at most {MAX_NESTING_DEPTH} levels deep."
                ),
            ),
            None,
        )
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as error:
        raise FrameError(InvalidMessageError(f"not JSON: {error}"), None) from None
    if not isinstance(data, dict):
        raise FrameError(InvalidMessageError("frame is not a JSON object"), None)
    raw_id = data.get("messageId")
    # Echoed in the error only when valid: an invalid one is the client's input, not an id.
    message_id = raw_id if isinstance(raw_id, str) and _MESSAGE_ID.fullmatch(raw_id) else None
    action = data.get("action")
    if not isinstance(action, str):
        raise FrameError(
            InvalidMessageError(
                "missing action", public_message="Every frame needs an 'action' string."
            ),
            message_id,
        )
    frame_type = FRAME_TYPES.get(action)
    if frame_type is None:
        raise FrameError(
            UnknownActionError(
                # Its length only: the action is the client's text, like any other field.
                f"unknown action of {len(action)} characters",
                public_message=f"Unknown action. Supported actions: {', '.join(ACTIONS)}.",
            ),
            message_id,
        )
    content = data.get("content")
    if action == "sendMessage" and isinstance(content, str):
        if len(content.strip()) > MAX_CONTENT_CHARS:
            raise FrameError(
                MessageTooLargeError(
                    public_message=(
                        f"That message is too long: the limit is {MAX_CONTENT_CHARS} characters."
                    )
                ),
                message_id,
            )
        if data.get("messageType") == "system":
            raise FrameError(
                InvalidMessageError(
                    "system message from client",
                    public_message="Clients may only send messages of type 'user'.",
                ),
                message_id,
            )
    try:
        return frame_type.model_validate(data)
    except ValidationError as error:
        fields = tuple(_field(detail["loc"]) for detail in error.errors(include_url=False))
        raise FrameError(
            InvalidMessageError(_describe(error), public_message=_describe(error)),
            message_id,
            fields,
        ) from None


# Rules by field where a bare type would say too little (a custom validator's own message
# quotes the value: datetime.fromisoformat's does).
_FIELD_RULES = {"timestamp": "must be an ISO 8601 date-time"}
_MESSAGE_ID_RULE = "must be 1 to 64 letters, digits, '-' or '_'"
_TYPE_RULES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "none_required": "must be null",
}


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "frame"


def _rule(detail: Any) -> str:
    """The rule a value broke, in our words: a pydantic message may quote the input (a
    custom validator's does), so none is passed on. Context values are the schema's own
    (bounds, choices), never the client's."""
    kind, context = detail["type"], detail.get("ctx") or {}
    field = str(detail["loc"][-1]) if detail["loc"] else ""
    if field in _FIELD_RULES:
        return _FIELD_RULES[field]
    if kind == "string_pattern_mismatch":
        return _MESSAGE_ID_RULE if context.get("pattern") == MESSAGE_ID_PATTERN else "is not valid"
    if kind == "string_too_short":
        return "must not be empty" if context.get("min_length") == 1 else "is too short"
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters"
    if kind == "literal_error":
        return f"must be {context.get('expected')}"
    if kind == "greater_than_equal":
        return f"must be at least {context.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {context.get('le')}"
    return _TYPE_RULES.get(kind, "is not valid")


def _describe(error: ValidationError) -> str:
    """What is wrong with a frame as "<field>: <rule>", naming protocol fields only and
    never repeating a value (its size is what a log may give)."""
    problems = [
        f"{_field(detail['loc'])}: {_rule(detail)}"
        for detail in error.errors(include_url=False, include_input=False, include_context=True)[:3]
    ]
    return "Invalid frame: " + "; ".join(problems) + "."


def json_bytes(text: str) -> int:
    """The bytes ``text`` takes inside a server frame's JSON (UTF-8, escapes, no quotes)."""
    return len(to_json(text)) - 2


# --- server frames ----------------------------------------------------------------------


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
