"""The WebSocket chat protocol's client side (docs/protocol.md): the frames a client sends,
parsed and validated; what the server sends back is in ``chatbot.server_frames``."""

from __future__ import annotations

import json
import re
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

from chatbot.errors import (
    ChatbotError,
    InvalidMessageError,
    MessageTooLargeError,
    UnknownActionError,
)

MAX_CONTENT_CHARS = 8000
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
