"""Ports for AWS dependencies other than tables: the @connections sender, engine invocation,
the document reranker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from chatbot.records import DocumentChunk


class ConnectionGoneError(Exception):
    """The client's connection no longer exists (API Gateway's GoneException, HTTP 410)."""


# API Gateway refuses a WebSocket frame over 128 KB of UTF-8 (PostToConnection answers 413).
MAX_OUTGOING_FRAME_BYTES = 128 * 1024


class FrameTooLargeError(Exception):
    """The frame exceeds what the connection accepts (API Gateway's PayloadTooLargeException,
    HTTP 413). Carries sizes only, never the frame: it may hold what a user wrote."""

    def __init__(self, size: int | None, limit: int = MAX_OUTGOING_FRAME_BYTES) -> None:
        super().__init__(f"frame of {size if size is not None else '?'} bytes over {limit}")
        self.size = size
        self.limit = limit


class ConnectionSender(Protocol):
    """Sends frames to a client connection (API Gateway's @connections API, or a local socket)."""

    def post(self, connection_id: str, data: str) -> None:
        """Send one text frame; raise ConnectionGoneError if the connection went away and
        FrameTooLargeError if the frame is over the limit (nothing is sent then)."""
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


class Reranker(Protocol):
    """Reorders a search's chunks by their relevance to the query (Bedrock's Rerank API in
    AWS; keeping the search's order, locally)."""

    def rerank(
        self, query: str, chunks: Sequence[DocumentChunk], *, limit: int
    ) -> list[DocumentChunk]:
        """At most ``limit`` of ``chunks``, most relevant first; the chunks themselves (and
        their scores) unchanged."""
        ...
