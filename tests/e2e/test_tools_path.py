"""The tools path end to end: a chat message, the engine's MCP client, the MCP server, storage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics_report import DateRange, read_events
from chatbot.config import Settings
from chatbot.tables import RECORDS, Table
from tests.e2e.conftest import ChatClient

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["memory", "stdio"])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings(CHATBOT_STATE_DIR=tmp_path / "state", MCP_TRANSPORT=request.param)


def record_id_in(text: str) -> str:
    match = re.search(r"record ([0-9a-f]{32})", text)
    assert match, text
    return match.group(1)


def tool_events(gateway: LocalGateway, session_id: str) -> list[dict[str, object]]:
    """This session's tool_usage events of today and yesterday, oldest first, read through the
    byType index."""
    assert gateway.runtime is not None
    days = DateRange.last_days(2, gateway.runtime.clock.now().date())
    events = read_events(
        gateway.runtime.tables.analytics, days, event_type="tool_usage", session_id=session_id
    )
    return [item["details"] for item in events]


async def test_a_record_is_created_read_and_deleted_by_asking_in_plain_words(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    created = (await client.ask("t1", "Create a record titled Groceries"))[-1]
    assert created["type"] == "message", created
    assert created["queryType"] == "mcp_tool"
    assert created["toolsUsed"] == ["create_record"]
    assert created["tools"] == [{"name": "create_record", "success": True}]
    record_id = record_id_in(created["content"])

    stored = _records_table(gateway).get({"owner": session["sessionId"], "id": record_id})
    assert stored is not None and stored["title"] == "Groceries"

    shown = (await client.ask("t2", f"show record {record_id}"))[-1]
    assert shown["toolsUsed"] == ["read_record"]
    assert "Groceries" in shown["content"]

    deleted = (await client.ask("t3", f"delete record {record_id}"))[-1]
    assert deleted["toolsUsed"] == ["delete_record"]
    assert _records_table(gateway).get({"owner": session["sessionId"], "id": record_id}) is None

    events = tool_events(gateway, session["sessionId"])
    assert [(e["tool"], e["success"]) for e in events] == [
        ("create_record", True),
        ("read_record", True),
        ("delete_record", True),
    ]
    assert all(isinstance(e["latencyMs"], int) for e in events)


async def test_a_failing_tool_call_is_explained_and_the_conversation_goes_on(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    missing = (await client.ask("m1", "show record doesnotexist1"))[-1]
    assert missing["type"] == "message"
    assert missing["toolsUsed"] == ["read_record"]
    # The frame says the call failed, not only that the tool ran.
    assert missing["tools"] == [{"name": "read_record", "success": False}]
    assert "could not" in missing["content"]
    [event] = tool_events(gateway, session["sessionId"])
    assert (event["tool"], event["success"]) == ("read_record", False)
    after = (await client.ask("m2", "Hello again"))[-1]
    assert after["type"] == "message" and after["queryType"] == "general"


async def test_one_sessions_records_are_invisible_to_another(
    connect: object, gateway: LocalGateway
) -> None:
    alice = await connect()  # type: ignore[operator]
    await alice.session()
    created = (await alice.ask("a1", "Create a record titled Alice's diary"))[-1]
    record_id = record_id_in(created["content"])
    mallory = await connect()  # type: ignore[operator]
    await mallory.session()
    stolen = (await mallory.ask("b1", f"show record {record_id}"))[-1]
    assert "diary" not in stolen["content"]
    assert "could not" in stolen["content"]


def _records_table(gateway: LocalGateway) -> Table:
    """The records table as the MCP server stores it (its own handle on the same file)."""
    assert gateway.runtime is not None
    return SQLiteTables(gateway.runtime.settings.sqlite_path, clock=gateway.runtime.clock).table(
        RECORDS
    )
