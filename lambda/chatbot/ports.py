"""Ports for AWS dependencies other than tables: the @connections sender, engine invocation."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict


class ConnectionGoneError(Exception):
    """The client's connection no longer exists (API Gateway's GoneException, HTTP 410)."""


class ConnectionSender(Protocol):
    """Sends frames to a client connection (API Gateway's @connections API, or a local socket)."""

    def post(self, connection_id: str, data: str) -> None:
        """Send one text frame; raise ConnectionGoneError if the connection went away."""
        ...

    def delete(self, connection_id: str) -> None:
        """Close the connection; a connection already gone is not an error."""
        ...


class EngineRequest(BaseModel):
    """What the websocket handler hands the engine: ids only; the message is in the table."""

    model_config = ConfigDict(frozen=True)

    sessionId: str
    messageId: str
    connectionId: str


class EngineInvoker(Protocol):
    """Starts the chatbot engine on one stored user message without waiting for the answer."""

    def invoke(self, request: EngineRequest) -> None: ...
