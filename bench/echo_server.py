"""A bare WebSocket echo server on the gateway's library: the ceiling for bench/gateway.py."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import uuid
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def replies(raw: str | bytes, session_id: str) -> list[dict[str, object]]:
    """The frames the protocol's happy path would send back, with no work in between."""
    try:
        frame = json.loads(raw)
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        return [{"type": "error", "code": "INVALID_MESSAGE", "message": "Not JSON."}]
    action = frame.get("action")
    if action == "getSession":
        return [
            {
                "type": "session",
                "sessionId": session_id,
                "sessionToken": "echo",
                "resumed": False,
                "createdAt": _now(),
            }
        ]
    if action == "ping":
        return [{"type": "pong"}]
    if action == "sendMessage":
        message_id = frame.get("messageId")
        content = frame.get("content")
        timestamp = _now()
        return [
            {
                "type": "ack",
                "messageId": message_id,
                "sessionId": session_id,
                "timestamp": timestamp,
            },
            {
                "type": "message",
                "sessionId": session_id,
                "messageId": message_id,
                "content": content,
                "timestamp": timestamp,
                "queryType": "general",
                "sources": [],
                "toolsUsed": [],
            },
        ]
    return [{"type": "error", "code": "UNKNOWN_ACTION", "message": "Unknown action."}]


async def echo(connection: ServerConnection) -> None:
    session_id = str(uuid.uuid4())
    with contextlib.suppress(ConnectionClosed):
        async for raw in connection:
            for reply in replies(raw, session_id):
                await connection.send(json.dumps(reply))


async def main(host: str, port: int, lifetime: float) -> int:
    async with serve(echo, host, port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        # The same shape of line as `chatbot serve`, so one reader finds the URL in both.
        print(f"Echo server running at http://{host}:{bound}/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # A lifetime bounds a server whose parent died without stopping it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=lifetime or None)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--lifetime", type=float, default=0, help="exit after this many seconds (0: never)"
    )
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.host, arguments.port, arguments.lifetime)))
