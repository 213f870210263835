"""The record tools through the executor, on both records-table adapters (SQLite, moto)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.tables import MAX_ITEM_BYTES, RECORDS
from chatbot.tools.catalog import ToolCatalog, default_schema_path
from chatbot.tools.errors import ToolError
from chatbot.tools.executor import ToolExecutor
from tests.conftest import FakeClock
from tests.integration.tool_harness import (
    OWNER_A,
    RecordStore,
    StepClock,
    call,
    dynamodb_store,
    refusal,
    seeded_index,
    sqlite_store,
)

OWNER_B = "session-b"
RECORD_TOOLS = ("create_record", "read_record", "update_record", "delete_record", "list_records")
HOSTILE_NAMES = (
    "a.b",
    "#n",
    ":v",
    "x = :y",
    "SET a",
    "REMOVE b",
    "with space",
    "ünï✓",
    "日本",
    "$",
)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordStore]:
    if request.param == "sqlite":
        yield from sqlite_store(tmp_path / "tables.db")
    else:
        yield from dynamodb_store(request.getfixturevalue("dynamodb_client"))


@pytest.fixture
def executor(store: RecordStore) -> ToolExecutor:
    return ToolExecutor(ToolCatalog.load(), store.table, seeded_index(), clock=StepClock())


def stored(store: RecordStore, owner: str, record_id: str) -> dict[str, Any] | None:
    return store.table.get({"owner": owner, "id": record_id})


# --- create, read, update, delete ---------------------------------------------------------


def test_a_record_makes_a_full_round_trip_and_is_stored_as_specified(
    executor: ToolExecutor, store: RecordStore
) -> None:
    created = call(executor, "create_record", record_id="r1", data={"name": "Ada", "n": 1})
    stored_after_create = {
        "owner": OWNER_A,
        "id": "r1",
        "name": "Ada",
        "n": 1,
        "created_at": "2026-11-24T12:00:01.000000Z",
        "updated_at": "2026-11-24T12:00:01.000000Z",
    }
    assert store.snapshot() == [stored_after_create]
    assert created == {
        "success": True,
        "record_id": "r1",
        "data": {k: v for k, v in stored_after_create.items() if k != "owner"},
    }

    assert call(executor, "read_record", record_id="r1") == created

    updated = call(executor, "update_record", record_id="r1", data={"n": 2, "tags": ["x"]})
    stored_after_update = {
        **stored_after_create,
        "n": 2,
        "tags": ["x"],
        "updated_at": "2026-11-24T12:00:02.000000Z",
    }
    assert store.snapshot() == [stored_after_update]
    assert updated["data"] == {k: v for k, v in stored_after_update.items() if k != "owner"}

    deleted = call(executor, "delete_record", record_id="r1")
    assert deleted == {"success": True, "record_id": "r1", "message": "Record r1 deleted."}
    assert store.snapshot() == []
    assert refusal(executor, "read_record", record_id="r1") == "NOT_FOUND"


def test_create_without_an_id_generates_a_uuid4_hex_id(executor: ToolExecutor) -> None:
    created = call(executor, "create_record", data={"a": 1})

    record_id = created["record_id"]
    assert len(record_id) == 32 and int(record_id, 16) >= 0
    assert created["data"]["id"] == record_id


def test_nested_values_round_trip_unchanged(executor: ToolExecutor) -> None:
    data = {
        "text": "héllo ✓",
        "empty": "",
        "numbers": [0, -7, 1.5, 12345678901234567890],
        "flags": {"yes": True, "no": False, "none": None},
        "deep": [{"inner": ["a", 1]}],
    }
    call(executor, "create_record", record_id="r1", data=data)

    read = call(executor, "read_record", record_id="r1")["data"]
    assert {k: read[k] for k in data} == data


def test_update_with_hostile_field_names_stores_them_literally_and_changes_only_them(
    executor: ToolExecutor, store: RecordStore
) -> None:
    call(executor, "create_record", record_id="r1", data={"keep": "me", "a": 1, "b": 2})
    before = stored(store, OWNER_A, "r1")
    assert before is not None
    changes = {name: f"value of {name}" for name in HOSTILE_NAMES}

    call(executor, "update_record", record_id="r1", data=changes)

    after = stored(store, OWNER_A, "r1")
    assert after is not None
    unchanged = {name: value for name, value in before.items() if name != "updated_at"}
    assert {name: value for name, value in after.items() if name != "updated_at"} == {
        **unchanged,
        **changes,
    }
    assert after["updated_at"] > before["updated_at"]


def test_system_field_names_are_refused_in_create_and_update(
    executor: ToolExecutor, store: RecordStore
) -> None:
    call(executor, "create_record", record_id="r1", data={"a": 1})
    before = store.snapshot()

    for reserved in ("owner", "id", "created_at", "updated_at"):
        data = {reserved: "x", "a": 2}
        assert refusal(executor, "create_record", record_id="r2", data=data) == "INVALID_INPUT"
        assert refusal(executor, "update_record", record_id="r1", data=data) == "INVALID_INPUT"

    assert store.snapshot() == before


@pytest.mark.parametrize("data", [[], ["a"], "text", None, 5, {}])
def test_data_that_is_not_a_non_empty_object_is_refused(
    executor: ToolExecutor, store: RecordStore, data: Any
) -> None:
    call(executor, "create_record", record_id="r1", data={"a": 1})
    before = store.snapshot()

    assert refusal(executor, "create_record", record_id="r2", data=data) == "INVALID_INPUT"
    assert refusal(executor, "update_record", record_id="r1", data=data) == "INVALID_INPUT"
    assert store.snapshot() == before


# --- size -------------------------------------------------------------------------------


def test_an_oversized_create_is_too_large_and_stores_nothing(
    executor: ToolExecutor, store: RecordStore
) -> None:
    # 45 fields of 10 000 characters each: every value is valid, the whole is over 400 KB.
    data = {f"f{i}": "x" * 10_000 for i in range(45)}

    assert refusal(executor, "create_record", record_id="big", data=data) == "TOO_LARGE"
    assert store.snapshot() == []


def test_an_update_that_would_grow_a_record_past_the_limit_is_too_large_and_changes_nothing(
    executor: ToolExecutor, store: RecordStore
) -> None:
    half = {f"f{i}": "x" * 10_000 for i in range(25)}
    call(executor, "create_record", record_id="r1", data=half)
    before = store.snapshot()
    more = {f"g{i}": "y" * 10_000 for i in range(25)}
    assert len(str({**half, **more})) > MAX_ITEM_BYTES

    assert refusal(executor, "update_record", record_id="r1", data=more) == "TOO_LARGE"
    assert store.snapshot() == before


# --- missing records and other sessions ---------------------------------------------------


def test_missing_records_are_not_found_and_update_creates_nothing(
    executor: ToolExecutor, store: RecordStore
) -> None:
    assert refusal(executor, "read_record", record_id="nope") == "NOT_FOUND"
    assert refusal(executor, "update_record", record_id="nope", data={"a": 1}) == "NOT_FOUND"
    assert refusal(executor, "delete_record", record_id="nope") == "NOT_FOUND"
    assert store.snapshot() == []


def test_another_session_cannot_read_change_delete_or_list_a_record(
    executor: ToolExecutor, store: RecordStore
) -> None:
    call(executor, "create_record", record_id="r1", data={"secret": "A's"})
    before = store.snapshot()

    assert refusal(executor, "read_record", OWNER_B, record_id="r1") == "NOT_FOUND"
    assert refusal(executor, "update_record", OWNER_B, record_id="r1", data={"x": 1}) == "NOT_FOUND"
    assert refusal(executor, "delete_record", OWNER_B, record_id="r1") == "NOT_FOUND"
    assert call(executor, "list_records", OWNER_B) == {
        "success": True,
        "records": [],
        "cursor": None,
    }
    assert store.snapshot() == before


def test_the_same_id_in_two_sessions_names_two_records(
    executor: ToolExecutor, store: RecordStore
) -> None:
    call(executor, "create_record", OWNER_A, record_id="r1", data={"who": "a"})
    call(executor, "create_record", OWNER_B, record_id="r1", data={"who": "b"})

    assert call(executor, "read_record", OWNER_A, record_id="r1")["data"]["who"] == "a"
    assert call(executor, "read_record", OWNER_B, record_id="r1")["data"]["who"] == "b"
    assert [(item["owner"], item["who"]) for item in store.snapshot()] == [
        (OWNER_A, "a"),
        (OWNER_B, "b"),
    ]


def test_a_second_create_with_the_same_id_already_exists_and_keeps_the_first(
    executor: ToolExecutor, store: RecordStore
) -> None:
    call(executor, "create_record", record_id="r1", data={"v": "first"})
    before = store.snapshot()

    assert refusal(executor, "create_record", record_id="r1", data={"v": "second"}) == (
        "ALREADY_EXISTS"
    )
    assert store.snapshot() == before


# --- list ----------------------------------------------------------------------------------


def test_list_pages_through_the_sessions_records_in_id_order(executor: ToolExecutor) -> None:
    ids = [f"r{i}" for i in range(7)]
    for record_id in reversed(ids):
        call(executor, "create_record", record_id=record_id, data={"i": record_id})
    call(executor, "create_record", OWNER_B, record_id="other", data={"i": "b"})

    pages, cursor = [], None
    while True:
        arguments: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = call(executor, "list_records", **arguments)
        pages.append([record["id"] for record in page["records"]])
        assert all("owner" not in record for record in page["records"])
        cursor = page["cursor"]
        if cursor is None:
            break

    assert pages == [ids[0:3], ids[3:6], ids[6:7]]


def test_list_defaults_to_twenty_records(executor: ToolExecutor) -> None:
    for i in range(21):
        call(executor, "create_record", record_id=f"r{i:02}", data={"i": i})

    page = call(executor, "list_records")

    assert len(page["records"]) == 20 and page["cursor"] is not None


def test_an_integral_float_limit_counts_as_an_integer(executor: ToolExecutor) -> None:
    # JSON Schema counts 2.0 as an integer; DynamoDB's Limit must be given a real int.
    for i in range(3):
        call(executor, "create_record", record_id=f"r{i}", data={"i": i})

    page = call(executor, "list_records", limit=2.0)

    assert len(page["records"]) == 2 and page["cursor"] is not None


@pytest.mark.parametrize("cursor", ["nonsense!", "A", "x" * 129])
def test_a_malformed_cursor_is_invalid_input(executor: ToolExecutor, cursor: str) -> None:
    assert refusal(executor, "list_records", cursor=cursor) == "INVALID_INPUT"


# --- refusals before anything is touched --------------------------------------------------


@pytest.mark.parametrize("table", ["sessions", "conversations", "connections", "analytics"])
@pytest.mark.parametrize("tool", RECORD_TOOLS)
def test_system_tables_are_not_allowed_for_any_record_tool(
    executor: ToolExecutor, store: RecordStore, tool: str, table: str
) -> None:
    arguments = {
        "create_record": {"data": {"a": 1}, "record_id": "r1"},
        "read_record": {"record_id": "r1"},
        "update_record": {"data": {"a": 1}, "record_id": "r1"},
        "delete_record": {"record_id": "r1"},
        "list_records": {},
    }[tool]

    assert refusal(executor, tool, table=table, **arguments) == "TABLE_NOT_ALLOWED"
    assert store.snapshot() == []


@pytest.mark.parametrize("table", ["users", "records ", "RECORDS", "t_records"])
def test_a_table_not_in_the_allowlist_is_unknown(executor: ToolExecutor, table: str) -> None:
    assert refusal(executor, "list_records", table=table) == "UNKNOWN_TABLE"
    assert refusal(executor, "create_record", table=table, data={"a": 1}) == "UNKNOWN_TABLE"


def test_messages_never_name_internal_tables_or_other_sessions(
    executor: ToolExecutor, store: RecordStore
) -> None:
    call(executor, "create_record", OWNER_A, record_id="r1", data={"a": 1})
    with pytest.raises(ToolError) as refused:
        executor.call("read_record", {"record_id": "r1", "table": "sessions"}, owner=OWNER_B)
    with pytest.raises(ToolError) as missing:
        executor.call("read_record", {"record_id": "r1"}, owner=OWNER_B)

    for error in (refused.value, missing.value):
        assert OWNER_A not in error.message and OWNER_B not in error.message
        assert "t_records" not in error.message and "records-" not in error.message


def test_an_unknown_tool_is_refused(executor: ToolExecutor) -> None:
    assert refusal(executor, "drop_table", table="records") == "UNKNOWN_TOOL"


def test_a_call_without_an_owner_is_a_programming_error(executor: ToolExecutor) -> None:
    with pytest.raises(ValueError, match="owner"):
        executor.call("list_records", {}, owner="")


def test_an_owner_in_the_arguments_is_refused_not_used(
    executor: ToolExecutor, store: RecordStore
) -> None:
    assert refusal(executor, "list_records", owner_id=OWNER_B) == "INVALID_INPUT"
    data = {"owner": OWNER_B, "a": 1}
    assert refusal(executor, "create_record", record_id="r1", data=data) == "INVALID_INPUT"
    assert store.snapshot() == []


def test_numbers_dynamodb_cannot_hold_are_refused_on_every_backend(
    executor: ToolExecutor, store: RecordStore
) -> None:
    for number in (10**40 + 1, 1e-200, 1e300):
        data = {"n": number}
        assert refusal(executor, "create_record", record_id="r1", data=data) == "INVALID_INPUT"
    assert store.snapshot() == []


# --- construction ---------------------------------------------------------------------------


def test_an_executor_refuses_a_catalog_granting_tables_it_cannot_serve(tmp_path: Path) -> None:
    document = yaml.safe_load(default_schema_path().read_text(encoding="utf-8"))
    document["x-tables"]["sessions"] = {"read": True, "write": False}
    tables = SQLiteTables(tmp_path / "tables.db", clock=FakeClock())

    with pytest.raises(ValueError, match="grants tables"):
        ToolExecutor(
            ToolCatalog(document), tables.table(RECORDS), seeded_index(), clock=FakeClock()
        )
    tables.close()


def test_an_executor_refuses_a_catalog_naming_a_tool_it_does_not_implement(
    tmp_path: Path,
) -> None:
    document = yaml.safe_load(default_schema_path().read_text(encoding="utf-8"))
    document["paths"]["/drop_table"] = copy.deepcopy(document["paths"]["/list_records"])
    document["paths"]["/drop_table"]["post"]["operationId"] = "drop_table"
    tables = SQLiteTables(tmp_path / "tables.db", clock=FakeClock())

    with pytest.raises(ValueError, match="no implementation"):
        ToolExecutor(
            ToolCatalog(document), tables.table(RECORDS), seeded_index(), clock=FakeClock()
        )
    tables.close()
