"""Hostile clients over real sockets: none can stall other clients or leak gateway state."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.frames import Frame, Opcode

from chatbot.adapters.local import events
from chatbot.adapters.local.gateway import LocalGateway
from chatbot.config import Settings
from chatbot.engine.factory import build_engine
from chatbot.runtime import build_chat_service, runtime_from_settings

from .conftest import ChatClient

# More non-readers than the gateway has worker threads (8 here, 64 by default): before
# per-connection queues each stuck post held a thread, and handshakes waited for a free one.
WORKERS = 8
NON_READERS = 10
# What a normal client must get while the non-readers are stuck (it took 7-9 s before).
RESPONSIVE_SECONDS = 3.0


def _upgrade_request(port: int) -> bytes:
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _raw_socket(*, receive_buffer: int | None = None) -> socket.socket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        # Set before connecting, so the window the peer sees stays small.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.setblocking(False)
    return raw


def _reset(raw: socket.socket) -> None:
    """Close with an RST (linger 0), as a client that vanishes mid-handshake does."""
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()


async def _non_reader(port: int, stop: asyncio.Event) -> None:
    """Opens a WebSocket by hand, then sends frames that draw replies and never reads them."""
    loop = asyncio.get_running_loop()
    raw = _raw_socket(receive_buffer=4096)
    try:
        await loop.sock_connect(raw, ("127.0.0.1", port))
        await loop.sock_sendall(raw, _upgrade_request(port))
        head = b""
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(raw, 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        # Replies of ~1 KB each: the error for a frame with an unknown action.
        frame = Frame(Opcode.TEXT, json.dumps({"action": "x" * 900}).encode())
        burst = frame.serialize(mask=True) * 50
        stopped = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            # Never cut a send short (a partial frame would be a protocol error): wait on it.
            sending = asyncio.ensure_future(loop.sock_sendall(raw, burst))
            await asyncio.wait([sending, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not sending.done():
                sending.cancel()
                break
            sending.result()
    except OSError:
        pass  # reset: the gateway dropped us, which is what the test expects
    finally:
        _reset(raw)


async def _wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


@pytest.fixture
async def small_gateway(settings: Settings) -> AsyncIterator[LocalGateway]:
    """The gateway with few worker threads, a 16 KB send queue and a 1 s send timeout."""
    runtime = runtime_from_settings(settings)
    gateway = LocalGateway(
        service_factory=lambda sender, invoker: build_chat_service(runtime, sender, invoker),
        engine_factory=lambda sender: build_engine(runtime, sender, None),
        host="127.0.0.1",
        port=0,
        workers=WORKERS,
        send_queue_bytes=16 * 1024,
        send_timeout_seconds=1.0,
        cleanup_interval_seconds=None,
        runtime=runtime,
        clock=runtime.clock,
    )
    await gateway.start()
    assert gateway._server is not None
    for listener in gateway._server.sockets:
        # Accepted sockets inherit this: a non-reader's kernel buffers fill in a fraction of a
        # second instead of the megabytes loopback autotuning would allow.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    yield gateway
    await gateway.stop()


async def test_clients_that_never_read_are_dropped_and_do_not_stall_a_normal_client(
    small_gateway: LocalGateway,
) -> None:
    gateway = small_gateway
    ws_url = f"ws://127.0.0.1:{gateway.port}/"
    stop = asyncio.Event()
    hostile = [asyncio.create_task(_non_reader(gateway.port, stop)) for _ in range(NON_READERS)]
    try:
        # Give the non-readers time to fill their sockets and, before the fix, the workers.
        await asyncio.sleep(1.0)
        started = time.monotonic()
        async with websockets.connect(ws_url, open_timeout=RESPONSIVE_SECONDS) as connection:
            client = ChatClient(connection)
            await asyncio.wait_for(client.ping(), RESPONSIVE_SECONDS)
            await asyncio.wait_for(client.session(), RESPONSIVE_SECONDS)
        assert time.monotonic() - started < RESPONSIVE_SECONDS
        # Every non-reader is closed by the gateway (queue full or send timed out).
        assert await _wait_until(lambda: not gateway._clients, 10.0), len(gateway._clients)
    finally:
        stop.set()
        await asyncio.gather(*hostile)


@pytest.mark.parametrize("complete_request", [True, False], ids=["full", "partial"])
async def test_handshakes_reset_before_the_101_leave_no_state_and_no_binding(
    gateway: LocalGateway, ws_url: str, monkeypatch: pytest.MonkeyPatch, complete_request: bool
) -> None:
    issued: list[str] = []
    new_connection_id = events.new_connection_id

    def recording_id() -> str:
        issued.append(new_connection_id())
        return issued[-1]

    monkeypatch.setattr(events, "new_connection_id", recording_id)
    loop = asyncio.get_running_loop()
    request = _upgrade_request(gateway.port)
    if not complete_request:
        request = request[: len(request) // 2]

    async def reset_handshake() -> None:
        raw = _raw_socket()
        await loop.sock_connect(raw, ("127.0.0.1", gateway.port))
        await loop.sock_sendall(raw, request)
        _reset(raw)

    for _ in range(5):
        await asyncio.gather(*(reset_handshake() for _ in range(40)))
    assert gateway.runtime is not None
    connections = gateway.runtime.tables.connections

    def released() -> bool:
        return not gateway._handshakes and all(
            connections.get({"connectionId": connection_id}) is None for connection_id in issued
        )

    assert await _wait_until(released, 10.0), (len(gateway._handshakes), len(issued))
    # The gateway still serves: a handshake that completes is still bound and served.
    async with websockets.connect(ws_url) as connection:
        await ChatClient(connection).ping()


@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000])
async def test_deeply_nested_frames_are_refused_and_the_connection_kept(
    client: ChatClient, body: str
) -> None:
    session = await client.session()
    await client.send(body)
    error = await client.expect("error")
    assert error["code"] == "INVALID_MESSAGE"
    assert "32 levels" in error["message"]
    await client.ping()
    assert (await client.session())["sessionId"] == session["sessionId"]
