"""A question whose engine worker died: ended with a retryable error, so a resend answers it.

In AWS a crashed engine invocation leaves its question pending until the lease lapses. The
local gateway knows at once which questions its dead worker held, so it does what the
engine's own failure path does: marks the question failed (a resend then retries it
straight away) and sends the client an ``error`` for its messageId. A question the worker
had already answered, or that another attempt now holds, is left alone.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from chatbot.engine.delivery import FinalFrameDelivery
from chatbot.errors import InternalError
from chatbot.ports import ConnectionSender, EngineRequest
from chatbot.runtime import Runtime
from chatbot.server_frames import ErrorFrame

logger = Logger(service="chatbot", child=True)


def fail_lost_answer(runtime: Runtime, sender: ConnectionSender, request: EngineRequest) -> bool:
    """End ``request``'s question as failed and tell the client; False if it was not ours
    to end (answered, already failed, or taken over). Blocking: call it from a thread."""
    conversations = runtime.conversations
    session_id, message_id = request.sessionId, request.messageId
    try:
        question = conversations.get(session_id, message_id, "user")
        if question is None or question.status not in (None, "pending"):
            return False
        if conversations.get(session_id, message_id, "assistant") is not None:
            return False
        # Conditional on the dead worker's claim, if it had taken one: a resend that has
        # since claimed the question keeps it.
        if not conversations.set_status(
            session_id, message_id, "failed", holder=question.leaseHolder
        ):
            return False
    except Exception as error:
        # The lease lapses instead, and the user's resend retries then.
        logger.error(
            "lost answer not recorded",
            extra={"messageId": message_id, "error": type(error).__name__},
        )
        return False
    logger.warning("answer lost with its engine worker", extra={"messageId": message_id})
    failure = InternalError("engine worker died")
    FinalFrameDelivery(sender, runtime.sessions.connections_of).deliver(
        request, ErrorFrame.from_error(failure, message_id)
    )
    runtime.analytics.record("error", session_id, {"code": failure.code.value})
    return True
