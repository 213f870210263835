"""The error hierarchy: every failure a person may see, with its protocol code and safe message."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_MESSAGE = "INVALID_MESSAGE"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    UNKNOWN_ACTION = "UNKNOWN_ACTION"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    SESSION_MISMATCH = "SESSION_MISMATCH"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
    MCP_TOOL_ERROR = "MCP_TOOL_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class ChatbotError(Exception):
    """A failure with a protocol code.

    ``public_message`` is what a person sees: never internal names, ids of other users or
    stack traces. ``str(error)`` may carry more detail for the logs.
    """

    code: ErrorCode = ErrorCode.INTERNAL_ERROR
    retryable: bool = True
    default_message = "Something went wrong on our side. Please try again."

    def __init__(self, detail: str | None = None, *, public_message: str | None = None) -> None:
        super().__init__(detail or self.default_message)
        self.public_message = public_message or self.default_message


class InvalidMessageError(ChatbotError):
    code = ErrorCode.INVALID_MESSAGE
    retryable = False
    default_message = "That message could not be understood."


class MessageTooLargeError(ChatbotError):
    code = ErrorCode.MESSAGE_TOO_LARGE
    retryable = False
    default_message = "That message is too long. Please shorten it and try again."


class UnknownActionError(ChatbotError):
    code = ErrorCode.UNKNOWN_ACTION
    retryable = False
    default_message = "That action is not supported."


class SessionNotFoundError(ChatbotError):
    code = ErrorCode.SESSION_NOT_FOUND
    retryable = False
    default_message = "This chat session has ended. Please start a new one."

    def __init__(self, session_id: str | None = None) -> None:
        super().__init__(f"session {session_id} not found" if session_id else None)


class SessionMismatchError(ChatbotError):
    code = ErrorCode.SESSION_MISMATCH
    retryable = False
    default_message = "That message belongs to a different session than this connection."


class RateLimitedError(ChatbotError):
    code = ErrorCode.RATE_LIMITED
    retryable = True
    default_message = "You are sending messages too quickly. Please wait a moment."


class QuotaExceededError(ChatbotError):
    """A spending or usage ceiling is reached: not retryable until the window its message
    names has passed (PROTOCOL.md)."""

    code = ErrorCode.QUOTA_EXCEEDED
    retryable = False
    default_message = "The daily usage limit is reached. Please try again tomorrow."


class ModelUnavailableError(ChatbotError):
    code = ErrorCode.MODEL_UNAVAILABLE
    retryable = True
    default_message = (
        "The assistant is unavailable right now. Your message is saved; please try again shortly."
    )


class MCPToolError(ChatbotError):
    code = ErrorCode.MCP_TOOL_ERROR
    retryable = False
    default_message = "A tool the assistant needed failed, so it could not finish that request."

    def __init__(self, tool_name: str, detail: str) -> None:
        super().__init__(f"MCP tool {tool_name} failed: {detail}")
        self.tool_name = tool_name


class InternalError(ChatbotError):
    code = ErrorCode.INTERNAL_ERROR
    retryable = True


class AnswerTooLargeError(InternalError):
    """The connection refused an answer's final frame as too large, though answers are bounded
    to fit API Gateway's limit: our fault, not the person's (so not MESSAGE_TOO_LARGE, which
    would say their message was too long). Not retryable: a resend repeats the same frame."""

    retryable = False
    default_message = (
        "The answer was too large to send. It is saved in this conversation's history."
    )


def as_chatbot_error(error: BaseException) -> ChatbotError:
    """Any exception as a ChatbotError; unknown ones become INTERNAL_ERROR with a safe message."""
    if isinstance(error, ChatbotError):
        return error
    return InternalError(f"{type(error).__name__}: {error}")
