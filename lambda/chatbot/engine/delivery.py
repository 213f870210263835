"""The engine's final frame (the answer or its error) to whichever of the session's
connections is still there."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger

from chatbot.errors import AnswerTooLargeError
from chatbot.ports import ConnectionGoneError, ConnectionSender, EngineRequest, FrameTooLargeError
from chatbot.server_frames import ErrorFrame, ServerFrame

logger = Logger(service="chatbot", child=True)


class FinalFrameDelivery:
    def __init__(
        self,
        sender: ConnectionSender,
        connections_of: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._sender = sender
        self._connections_of = connections_of

    def deliver(self, request: EngineRequest, frame: ServerFrame) -> None:
        """Send the final frame to the asking connection or, if the client reconnected while
        the answer was written, to the session's newest connection."""
        data = frame.to_json()
        if self._post(request, request.connectionId, data):
            return
        try:
            others = self._connections_of(request.sessionId) if self._connections_of else []
        except Exception as error:
            logger.warning(
                "session's connections not read",
                extra={"messageId": request.messageId, "error": type(error).__name__},
            )
            others = []
        for connection_id in others:
            if connection_id != request.connectionId and self._post(request, connection_id, data):
                return
        logger.info("client left before the answer", extra={"messageId": request.messageId})

    def _post(
        self, request: EngineRequest, connection_id: str, data: str, *, replace: bool = True
    ) -> bool:
        """Post ``data``; False if the connection is gone or the post failed (the answer,
        if any, is stored: the client gets it on resume or by resending). A frame the
        connection refuses as too large is replaced by an ``error`` for the message."""
        try:
            self._sender.post(connection_id, data)
        except ConnectionGoneError:
            return False
        except FrameTooLargeError as error:
            if not replace:
                logger.error(
                    "error frame too large for the connection", extra={"limit": error.limit}
                )
                return False
            # Sizes only: the frame holds the answer, and maybe what the user wrote.
            logger.error(
                "final frame too large for the connection",
                extra={
                    "messageId": request.messageId,
                    "connectionId": connection_id,
                    "bytes": error.size,
                    "limit": error.limit,
                },
            )
            refusal = ErrorFrame.from_error(AnswerTooLargeError(), request.messageId)
            return self._post(request, connection_id, refusal.to_json(), replace=False)
        except Exception as error:
            logger.warning(
                "final frame not sent",
                extra={"messageId": request.messageId, "error": type(error).__name__},
            )
            return False
        return True
