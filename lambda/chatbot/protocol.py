"""The WebSocket chat protocol (shared/PROTOCOL.md): client frames in, server frames out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from chatbot.errors import (
    ChatbotError,
    InvalidMessageError,
    MessageTooLargeError,
    UnknownActionError,
)
from chatbot.records import Citation, ConversationRecord, QueryType, Usage

MAX_CONTENT_CHARS = 8000
MAX_COMMENT_CHARS = 1000
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

MessageId = Annotated[str, StringConstraints(pattern=MESSAGE_ID_PATTERN)]


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


AnyClientFrame = GetSessionFrame | PingFrame | SendMessageFrame | GetHistoryFrame | FeedbackFrame

FRAME_TYPES: dict[str, type[AnyClientFrame]] = {
    "getSession": GetSessionFrame,
    "ping": PingFrame,
    "sendMessage": SendMessageFrame,
    "getHistory": GetHistoryFrame,
    "feedback": FeedbackFrame,
}
ACTIONS = tuple(FRAME_TYPES)


class FrameError(ChatbotError):
    """Wraps a frame error with the messageId the frame carried, so the reply can name it."""

    def __init__(self, error: ChatbotError, message_id: str | None) -> None:
        super().__init__(str(error), public_message=error.public_message)
        self.error = error
        self.code = error.code
        self.retryable = error.retryable
        self.message_id = message_id


def parse_client_frame(body: str | bytes | None, *, max_bytes: int) -> AnyClientFrame:
    """Parse and validate one client frame, or raise FrameError with the protocol code."""
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > max_bytes:
        raise FrameError(MessageTooLargeError(f"frame of {len(raw)} bytes"), None)
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as error:
        raise FrameError(InvalidMessageError(f"not JSON: {error}"), None) from None
    if not isinstance(data, dict):
        raise FrameError(InvalidMessageError("frame is not a JSON object"), None)
    raw_id = data.get("messageId")
    message_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
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
                f"unknown action {action[:64]!r}",
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
        raise FrameError(
            InvalidMessageError(_describe(error), public_message=_describe(error)), message_id
        ) from None


def _describe(error: ValidationError) -> str:
    """A person-readable summary of what is wrong with a frame, naming protocol fields only."""
    problems = []
    for detail in error.errors(include_url=False, include_input=False)[:3]:
        field = ".".join(str(part) for part in detail["loc"]) or "frame"
        problems.append(f"'{field}': {detail['msg']}")
    return "Invalid frame: " + "; ".join(problems) + "."


# --- server frames ----------------------------------------------------------------------


class ServerFrame(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


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
    citations: list[Citation] | None = None
    usage: Usage | None = None

    @classmethod
    def from_record(cls, answer: ConversationRecord) -> MessageFrame:
        return cls(
            sessionId=answer.sessionId,
            messageId=answer.messageId,
            content=answer.content,
            timestamp=answer.timestamp,
            queryType=answer.queryType or QueryType.GENERAL,
            sources=answer.sources or [],
            toolsUsed=answer.toolsUsed or [],
            citations=answer.citations,
            usage=answer.usage,
        )


class HistoryEntry(BaseModel):
    messageId: str
    role: Literal["user", "assistant"]
    content: str
    timestamp: str
    queryType: QueryType | None = None
    sources: list[str] | None = None
    toolsUsed: list[str] | None = None


class HistoryFrame(ServerFrame):
    type: Literal["history"] = "history"
    sessionId: str
    messages: list[HistoryEntry]


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
