"""The engine's final frame (the answer or its error) to whichever of the session's
connections is still there."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger

from chatbot.ports import ConnectionGoneError, ConnectionSender, EngineRequest
from chatbot.server_frames import ServerFrame

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

    def _post(self, request: EngineRequest, connection_id: str, data: str) -> bool:
        """Post ``data``; False if the connection is gone or the post failed (the answer,
        if any, is stored: the client gets it on resume or by resending)."""
        try:
            self._sender.post(connection_id, data)
        except ConnectionGoneError:
            return False
        except Exception as error:
            logger.warning(
                "final frame not sent",
                extra={"messageId": request.messageId, "error": type(error).__name__},
            )
            return False
        return True
