"""Abuse over a real socket on the default limits: a session flood from one address is cut
off at the handshake (HTTP 429), and only the local page's Origin (or none) may connect."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.config import Settings
from chatbot.records import activity_partitions
from tests.e2e.conftest import FRAME_TIMEOUT


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The shipped defaults (tests/conftest.py raises the per-IP bounds for the other tests)."""
    for name in ("SESSIONS_PER_IP_PER_MINUTE", "MESSAGES_PER_IP_PER_MINUTE", "ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    return Settings(CHATBOT_STATE_DIR=tmp_path / "state")


async def handshake(gateway: LocalGateway, origin: str | None = None) -> int:
    """The handshake's HTTP status: 101 when it opened (the connection is closed again)."""
    url = f"ws://127.0.0.1:{gateway.port}/"
    try:
        connection = await websockets.connect(
            url,
            open_timeout=FRAME_TIMEOUT,
            origin=None if origin is None else websockets.Origin(origin),
        )
    except InvalidStatus as refused:
        return refused.response.status_code
    await connection.close()
    return 101


async def test_a_session_flood_from_one_address_is_refused_after_ten_a_minute(
    gateway: LocalGateway,
) -> None:
    statuses = [await handshake(gateway) for _ in range(15)]
    assert statuses == [101] * 10 + [429] * 5
    assert gateway.runtime is not None
    sessions = gateway.runtime.tables.sessions
    active = [
        item
        for partition in activity_partitions()
        for item in sessions.query(partition, index="byActivity").items
    ]
    assert len(active) == 10


async def test_only_the_local_pages_origin_or_none_may_open_a_connection(
    gateway: LocalGateway,
) -> None:
    port = gateway.port
    assert await handshake(gateway, f"http://127.0.0.1:{port}") == 101
    assert await handshake(gateway, f"http://localhost:{port}") == 101
    assert await handshake(gateway) == 101
    assert await handshake(gateway, "https://evil.example") == 403
    assert await handshake(gateway, f"http://127.0.0.1:{port + 1}") == 403
