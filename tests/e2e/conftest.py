"""The local gateway on a free port, and a real WebSocket client that speaks PROTOCOL.md."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from chatbot.adapters.local.gateway import LocalGateway, local_gateway
from chatbot.config import Settings
from chatbot.engine.engine import ModelFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
# Without these, Chromium running as root refuses to start, and its background services
# try to reach Google and stall on the closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 15_000
FRAME_TIMEOUT = 10.0


class ChatClient:
    """A WebSocket client that keeps every frame it received, for assertions."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []
        self._buffer: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.connection.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        if self._buffer:
            return self._buffer.pop(0)
        raw = await asyncio.wait_for(self.connection.recv(), FRAME_TIMEOUT)
        frame: dict[str, Any] = json.loads(raw)
        self.frames.append(frame)
        return frame

    async def expect(self, frame_type: str) -> dict[str, Any]:
        frame = await self.recv()
        assert frame["type"] == frame_type, frame
        return frame

    async def until_final(self, message_id: str) -> list[dict[str, Any]]:
        """Frames about ``message_id`` up to its final ``message`` or ``error``; others are kept."""
        mine: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        while True:
            frame = await self.recv()
            if frame.get("messageId") != message_id:
                others.append(frame)
                continue
            mine.append(frame)
            if frame["type"] in ("message", "error"):
                self._buffer = others + self._buffer
                return mine

    async def session(self) -> dict[str, Any]:
        await self.send({"action": "getSession"})
        return await self.expect("session")

    async def ask(self, message_id: str, content: str) -> list[dict[str, Any]]:
        await self.send({"action": "sendMessage", "messageId": message_id, "content": content})
        return await self.until_final(message_id)

    async def ping(self) -> None:
        await self.send({"action": "ping"})
        await self.expect("pong")


@pytest.fixture
def model_for() -> ModelFactory | None:
    """Override in a test module to script the model; None means the offline provider."""
    return None


@pytest.fixture
async def gateway(
    settings: Settings, model_for: ModelFactory | None
) -> AsyncIterator[LocalGateway]:
    server = local_gateway(
        settings,
        host="127.0.0.1",
        port=0,
        web_dir=WEB_DIR,
        model_for=model_for,
        cleanup_interval_seconds=None,
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def ws_url(gateway: LocalGateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/"


@pytest.fixture
async def connect(ws_url: str) -> AsyncIterator[Callable[..., Any]]:
    """``await connect(query="")`` opens a client; all are closed after the test."""
    opened: list[ClientConnection] = []

    async def open_client(query: str = "") -> ChatClient:
        connection = await websockets.connect(ws_url + query, open_timeout=FRAME_TIMEOUT)
        opened.append(connection)
        return ChatClient(connection)

    yield open_client
    for connection in opened:
        await connection.close()


@pytest.fixture
async def client(connect: Callable[..., Any]) -> ChatClient:
    return await connect()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, headless, through Playwright's bundled driver; never a download here.

    Debian's (``chromium`` on PATH) where it is installed, else Playwright's own, which
    scripts/ensure-chromium (`make test`) downloads only where Debian's cannot be installed.
    Module scope, not session: Playwright's sync API keeps an event loop running on the main
    thread while it is open, and later tests call asyncio.run there.
    """
    debian_chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import Error, expect, sync_playwright
    except ImportError:
        pytest.fail("The playwright package is missing: run `make test`, which installs it.")
    # The first answer can be slow (model load); 5 s, Playwright's default, is too tight.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh temporary profile (user data dir).
        try:
            launched = playwright.chromium.launch(
                executable_path=debian_chromium, headless=True, args=CHROMIUM_ARGS
            )
        except Error as error:
            if debian_chromium is not None:
                raise
            pytest.fail(
                "No Chromium: neither Debian's chromium on PATH nor Playwright's own "
                f"({error.message.splitlines()[0]}). Run `make test`, which installs one."
            )
        try:
            yield launched
        finally:
            launched.close()
