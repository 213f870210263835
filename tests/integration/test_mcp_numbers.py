"""Numbers outside JSON's finite range (1e400, NaN, Infinity) are refused with INVALID_INPUT
naming the field, never the value: over the MCP protocol as a transport parses them off the
wire (the SDK would otherwise turn them into null), through the Lambda's handle_message, and
at the executor. Nothing is stored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from chatbot.config import Settings
from chatbot.mcp_server import owner_claims, server_from_settings
from chatbot.mcp_transports import handle_message
from chatbot.tools.catalog import ToolCatalog
from chatbot.tools.errors import ToolError
from chatbot.tools.executor import ToolExecutor
from tests.conftest import FakeClock
from tests.integration.mcp_harness import raw_exchange, stored_records, tools_call
from tests.integration.tool_harness import StepClock, seeded_index, sqlite_store

NON_FINITE = ["1e400", "NaN", "Infinity", "-Infinity", "-1e400"]


@pytest.mark.parametrize("number", NON_FINITE)
async def test_a_non_finite_number_over_mcp_is_refused_naming_the_field(
    settings: Settings, number: str
) -> None:
    clock = FakeClock()
    server = server_from_settings(settings, clock=clock)
    meta = owner_claims(settings, clock).meta("alice")
    created, nested, updated, listed = await raw_exchange(
        server,
        [
            tools_call("create_record", f'{{"data": {{"n": {number}}}}}', meta, 1),
            tools_call("create_record", f'{{"data": {{"list": [1, {{"x": {number}}}]}}}}', meta, 2),
            tools_call(
                "update_record", f'{{"record_id": "r1", "data": {{"n": {number}}}}}', meta, 3
            ),
            tools_call("list_records", f'{{"limit": {number}}}', meta, 4),
        ],
    )
    messages = []
    for result in (created, nested, updated, listed):
        assert result.isError
        error = json.loads(result.content[0].text)["error"]
        assert error["code"] == "INVALID_INPUT"
        messages.append(error["message"])
    assert messages == [
        "data.n must be a finite number.",
        "data.list[1].x must be a finite number.",
        "data.n must be a finite number.",
        "limit must be a finite number.",
    ]
    for message in messages:
        for shown in (number.lstrip("-"), "inf", "nan", "null"):
            assert shown not in message.lower()
    assert stored_records(settings) == []


async def test_finite_numbers_over_mcp_are_stored_as_sent(settings: Settings) -> None:
    clock = FakeClock()
    server = server_from_settings(settings, clock=clock)
    meta = owner_claims(settings, clock).meta("alice")
    [created] = await raw_exchange(
        server, [tools_call("create_record", '{"data": {"big": 1e120, "n": -0.5}}', meta)]
    )
    assert not created.isError
    [record] = stored_records(settings)
    assert (float(record["big"]), record["n"]) == (1e120, -0.5)


@pytest.mark.parametrize("number", NON_FINITE)
async def test_a_non_finite_number_in_a_lambda_event_is_refused(
    settings: Settings, number: str
) -> None:
    clock = FakeClock()
    server = server_from_settings(settings, clock=clock)
    meta = owner_claims(settings, clock).meta("alice")
    # The Lambda runtime parses the event with the json module, which reads all three.
    event = json.loads(tools_call("create_record", f'{{"data": {{"n": {number}}}}}', meta))
    reply = await handle_message(server, event)
    assert reply is not None and reply["result"]["isError"]
    error = json.loads(reply["result"]["content"][0]["text"])["error"]
    assert error == {"code": "INVALID_INPUT", "message": "data.n must be a finite number."}
    assert stored_records(settings) == []


async def test_the_owner_is_checked_before_the_numbers(settings: Settings) -> None:
    server = server_from_settings(settings, clock=FakeClock())
    [refused] = await raw_exchange(
        server, [tools_call("create_record", '{"data": {"n": NaN}}', {"chatbot/owner": "bob"})]
    )
    assert json.loads(refused.content[0].text)["error"]["code"] == "OWNER_INVALID"


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, json.loads("1e400")])
def test_the_executor_refuses_non_finite_numbers(tmp_path: Path, value: float) -> None:
    store = next(sqlite_store(tmp_path / "records.db"))
    executor = ToolExecutor(ToolCatalog.load(), store.table, seeded_index(), clock=StepClock())
    with pytest.raises(ToolError) as refused:
        executor.call("create_record", {"data": {"deep": {"n": [value]}}}, owner="alice")
    assert refused.value.code == "INVALID_INPUT"
    assert refused.value.message == "data.deep.n[0] must be a finite number."
    assert store.snapshot() == []
