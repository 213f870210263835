"""What the engine does when an answer fails: the error's code, the verdict, the error frame.

Whatever failed (the store, the model, a tool, the sender), the client is sent an ``error``
for its messageId, and the question is marked failed where the store allows; where it does
not, the question's lease lapses and the user's resend retries.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from strands.types.exceptions import MCPClientInitializationError, ToolProviderException

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.delivery import FinalFrameDelivery
from chatbot.engine.semantic_router import RouteDecision
from chatbot.errors import (
    ChatbotError,
    InternalError,
    MCPToolError,
    ModelUnavailableError,
    as_chatbot_error,
)
from chatbot.ports import EngineRequest
from chatbot.server_frames import ErrorFrame

logger = Logger(service="chatbot", child=True)


def as_answer_error(error: BaseException) -> ChatbotError:
    """Failures while the agent runs: our own errors keep their code; the rest is the model's."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ChatbotError):
            return cause
        if isinstance(cause, MCPClientInitializationError | ToolProviderException):
            return MCPToolError("mcp", f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    if isinstance(error, Exception):
        return ModelUnavailableError(f"{type(error).__name__}: {error}")
    return InternalError(repr(error))


class FailureReporter:
    def __init__(
        self,
        conversations: ConversationStore,
        analytics: AnalyticsRecorder,
        delivery: FinalFrameDelivery,
        *,
        log_user_content: bool,
    ) -> None:
        self._conversations = conversations
        self._analytics = analytics
        self._delivery = delivery
        self._log_user_content = log_user_content

    def fail(
        self,
        request: EngineRequest,
        error: Exception,
        *,
        holder: str | None,
        route: RouteDecision | None = None,
    ) -> None:
        """Mark the question failed (if ``holder`` holds its lease) and tell the client,
        whether or not the store (which may be what failed) took the verdict."""
        failure = as_chatbot_error(error)
        query_type = {"queryType": route.query_type.value} if route is not None else {}
        logger.warning(
            "answer failed",
            extra={
                "messageId": request.messageId,
                **query_type,
                "code": failure.code.value,
                # The underlying failure's kind (the model client's exception).
                "error": type(error.__cause__ or error).__name__,
                # Exception texts can quote what the user wrote (a validation error, a
                # guardrail's reason): logged only where configuration allows it.
                **({"detail": str(error)} if self._log_user_content else {}),
            },
        )
        if holder is not None:
            try:
                self._conversations.set_status(
                    request.sessionId, request.messageId, "failed", holder=holder
                )
            except Exception as store_error:
                # Nothing more to do here: the lease lapses and the user's resend retries.
                logger.error(
                    "failed answer not recorded",
                    extra={"messageId": request.messageId, "error": type(store_error).__name__},
                )
        # Sent whether or not the store took the verdict: the client must not wait on it.
        self._delivery.deliver(request, ErrorFrame.from_error(failure, request.messageId))
        details: dict[str, Any] = {"code": failure.code.value, **query_type}
        if route is not None:
            details["routedBy"] = route.method
        self._analytics.record("error", request.sessionId, details)
