"""Each connection's outgoing frames: its own bounded queue and its own writer task.

A client that does not read holds no worker thread: past ``queue_bytes`` queued, or a frame
the socket has not taken within ``timeout_seconds``, the client is dropped (its socket
aborted) and posts to it are "gone", while every other client goes on as before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

logger = Logger(service="chatbot", child=True)

# The gateway's defaults: at most this many bytes queued for one client, and this long for
# its socket to take each frame.
SEND_QUEUE_BYTES = 1024 * 1024
SEND_TIMEOUT_SECONDS = 10.0


@dataclass
class Client:
    connection: ServerConnection
    connected_at_ms: int
    source_ip: str
    # Frames (or None: close the connection) waiting for the writer; their UTF-8 bytes.
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    queued_bytes: int = 0
    dropped: bool = False


class SendQueues:
    """The open connections' clients by connection id, and what feeds their sockets."""

    def __init__(self, *, queue_bytes: int, timeout_seconds: float) -> None:
        self.queue_bytes = queue_bytes
        self.timeout_seconds = timeout_seconds
        self.clients: dict[str, Client] = {}

    def open(self, connection_id: str, client: Client) -> asyncio.Future[None]:
        """Register ``client`` and start its writer (cancel it when the connection ends)."""
        self.clients[connection_id] = client
        return asyncio.ensure_future(self.write(connection_id, client))

    async def write(self, connection_id: str, client: Client) -> None:
        """The connection's writer: its frames in order, each taken within the send timeout."""
        connection = client.connection
        while True:
            data = await client.outbox.get()
            if data is None:
                try:
                    async with asyncio.timeout(self.timeout_seconds):
                        await connection.close(1000, "session closed")
                except TimeoutError:
                    connection.transport.abort()
                return
            client.queued_bytes -= len(data.encode())
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    await connection.send(data)
            except TimeoutError:
                self.drop(connection_id, client, "send timed out")
                return
            except ConnectionClosed:
                return

    def drop(self, connection_id: str, client: Client, why: str) -> None:
        """Close a client that does not read: at once, with no closing handshake to wait on."""
        if client.dropped:
            return
        client.dropped = True
        self.clients.pop(connection_id, None)
        logger.warning(
            "client dropped: not reading", extra={"connectionId": connection_id, "why": why}
        )
        client.connection.transport.abort()

    def offer(self, connection_id: str, client: Client, data: str, size: int) -> bool:
        """Queue ``data`` (``size`` UTF-8 bytes) for the writer; False if the client is gone
        or was dropped now for a full queue. On the event loop; never waits."""
        if client.dropped or client.connection.state is not State.OPEN:
            return False
        if client.queued_bytes + size > self.queue_bytes:
            self.drop(connection_id, client, "send queue full")
            return False
        client.queued_bytes += size
        client.outbox.put_nowait(data)
        return True
