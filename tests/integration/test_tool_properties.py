"""Properties of every tool over inputs generated from its own schema (hypothesis-jsonschema).

Valid inputs either succeed (with a result matching the output schema and the stored item
matching the input) or fail with a clean ToolError; invalid inputs, made by breaking valid
ones, are refused as INVALID_INPUT before anything is stored. SQLite takes the full runs,
moto's DynamoDB a smaller one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from chatbot.adapters.items import normalize
from chatbot.tools.catalog import ToolCatalog
from chatbot.tools.errors import ToolError
from chatbot.tools.executor import ToolExecutor
from tests.integration.schema_strategies import valid_inputs
from tests.integration.tool_harness import (
    RecordStore,
    StepClock,
    dynamodb_store,
    seeded_index,
    sqlite_store,
)

CATALOG = ToolCatalog.load()
TOOLS = [definition.name for definition in CATALOG.definitions]
EXAMPLES = {"sqlite": 60, "dynamodb": 12}
BYSTANDERS = [
    (owner, record_id) for owner in ("bystander-1", "bystander-2") for record_id in ("r1", "shared")
]
TIMESTAMPS = ("created_at", "updated_at")
# The codes a valid input may still meet: tables outside the allowlist, limits of the store.
CLEAN_CODES = {
    "search_documents": set(),
    "create_record": {"UNKNOWN_TABLE", "TABLE_NOT_ALLOWED", "TOO_LARGE", "INVALID_INPUT"},
    "read_record": {"UNKNOWN_TABLE", "TABLE_NOT_ALLOWED"},
    "update_record": {"UNKNOWN_TABLE", "TABLE_NOT_ALLOWED", "TOO_LARGE", "INVALID_INPUT"},
    "delete_record": {"UNKNOWN_TABLE", "TABLE_NOT_ALLOWED"},
    "list_records": {"UNKNOWN_TABLE", "TABLE_NOT_ALLOWED", "INVALID_INPUT"},
}


@pytest.fixture(scope="module", params=["sqlite", "dynamodb"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecordStore]:
    # Module scope: hypothesis runs many examples per test; each example uses a fresh owner.
    if request.param == "sqlite":
        yield from sqlite_store(tmp_path_factory.mktemp("properties") / "tables.db")
    else:
        yield from dynamodb_store(request.getfixturevalue("dynamodb_client"))


@pytest.fixture(scope="module")
def executor(store: RecordStore) -> ToolExecutor:
    executor = ToolExecutor(CATALOG, store.table, seeded_index(), clock=StepClock())
    # Bystanders: records of other sessions that no example may ever change.
    for owner, record_id in BYSTANDERS:
        executor.call("create_record", {"record_id": record_id, "data": {"v": 1}}, owner=owner)
    return executor


def example_settings(store: RecordStore) -> settings:
    return settings(
        max_examples=EXAMPLES[store.name],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def with_table_choice(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid inputs; where a table is named, often the records table or none (the default)."""
    inputs = valid_inputs(schema)
    if "table" not in schema["properties"]:
        return inputs

    def choose(arguments: dict[str, Any], choice: str) -> dict[str, Any]:
        if choice == "records":
            return {**arguments, "table": "records"}
        if choice == "default":
            return {name: value for name, value in arguments.items() if name != "table"}
        return arguments

    return st.builds(choose, inputs, st.sampled_from(["records", "default", "as generated"]))


def fields(item: dict[str, Any] | None) -> dict[str, Any]:
    assert item is not None
    return {name: value for name, value in item.items() if name not in ("owner", "id", *TIMESTAMPS)}


def bystanders(store: RecordStore) -> list[dict[str, Any] | None]:
    return [store.table.get({"owner": owner, "id": record_id}) for owner, record_id in BYSTANDERS]


def outcome(
    executor: ToolExecutor, tool: str, arguments: dict[str, Any], owner: str
) -> dict[str, Any] | ToolError:
    """The call's result, or the ToolError it raised (any other exception fails the test)."""
    try:
        return executor.call(tool, arguments, owner=owner)
    except ToolError as error:
        return error


@pytest.mark.parametrize("tool", TOOLS)
def test_a_valid_input_succeeds_or_fails_cleanly(
    tool: str, store: RecordStore, executor: ToolExecutor
) -> None:
    output = Draft202012Validator(CATALOG.definition(tool).output_schema)

    @example_settings(store)
    @given(arguments=with_table_choice(CATALOG.definition(tool).input_schema))
    def check(arguments: dict[str, Any]) -> None:
        owner = f"owner-{uuid.uuid4().hex}"
        record_id = arguments.get("record_id")
        if tool in ("read_record", "update_record", "delete_record"):
            executor.call(
                "create_record", {"record_id": record_id, "data": {"seed": 1}}, owner=owner
            )
        before = store.table.get({"owner": owner, "id": record_id}) if record_id else None
        untouched = bystanders(store)
        on_records = arguments.get("table", "records") == "records"

        result = outcome(executor, tool, arguments, owner)
        if isinstance(result, ToolError):
            # On the records table, no table error; and the seeded record is always there.
            table_codes = {"UNKNOWN_TABLE", "TABLE_NOT_ALLOWED"}
            allowed = CLEAN_CODES[tool] - table_codes if on_records else CLEAN_CODES[tool]
            assert result.code in allowed, result.as_result()
            after = store.table.get({"owner": owner, "id": record_id}) if record_id else None
            assert after == before
        else:
            output.validate(result)
            stored = None
            if "record_id" in result:
                stored = store.table.get({"owner": owner, "id": result["record_id"]})
            if tool == "create_record":
                assert fields(stored) == normalize(arguments["data"])
            elif tool == "update_record":
                assert fields(stored) == {**fields(before), **normalize(arguments["data"])}
            elif tool == "read_record":
                assert result["data"] == {k: v for k, v in (before or {}).items() if k != "owner"}
            elif tool == "delete_record":
                assert stored is None
        assert bystanders(store) == untouched
        # Keep the table small, so that snapshots in the other properties stay cheap.
        for item in store.table.query(owner).items:
            store.table.delete({"owner": owner, "id": item["id"]})

    check()


def _wrong_value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value the property's schema refuses: another type, out of range, or too long."""
    candidates: list[st.SearchStrategy[Any]] = [
        st.text(max_size=5),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ]
    if "minimum" in schema:
        candidates.append(st.integers(max_value=schema["minimum"] - 1))
    if "maximum" in schema:
        candidates.append(st.integers(min_value=schema["maximum"] + 1))
    if "maxLength" in schema:
        length = schema["maxLength"] + 1
        candidates.append(
            st.text(st.characters(codec="utf-8"), min_size=length, max_size=length + 3)
        )
    validator = Draft202012Validator(schema)
    return st.one_of(candidates).filter(lambda value: not validator.is_valid(value))


def invalid_inputs(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid inputs broken one way each: a wrong value, an extra field, a missing field."""
    properties: dict[str, Any] = schema["properties"]
    valid = valid_inputs(schema)
    wrong_value = st.sampled_from(sorted(properties)).flatmap(
        lambda name: _wrong_value(properties[name]).map(lambda value: (name, value))
    )
    extra_name = st.text(min_size=1, max_size=12).filter(lambda name: name not in properties)
    mutations = [
        st.builds(lambda base, change: {**base, change[0]: change[1]}, valid, wrong_value),
        st.builds(lambda base, name: {**base, name: 1}, valid, extra_name),
    ]
    required = schema.get("required", [])
    if required:
        mutations.append(
            st.builds(
                lambda base, name: {k: v for k, v in base.items() if k != name},
                valid,
                st.sampled_from(required),
            )
        )
    return st.one_of(mutations)


@pytest.mark.parametrize("tool", TOOLS)
def test_an_invalid_input_is_refused_before_anything_is_stored(
    tool: str, store: RecordStore, executor: ToolExecutor
) -> None:
    schema = CATALOG.definition(tool).input_schema
    validator = Draft202012Validator(schema)
    owner = "owner-with-records"
    for record_id in ("a", "b"):
        executor.call("create_record", {"record_id": record_id, "data": {"v": 1}}, owner=owner)

    @example_settings(store)
    @given(arguments=invalid_inputs(schema))
    def check(arguments: dict[str, Any]) -> None:
        assert not validator.is_valid(arguments)
        # The whole table where reading it is cheap (SQLite); the caller's partition always.
        whole = store.name == "sqlite"
        before = store.snapshot() if whole else None
        partition = store.table.query(owner).items

        with pytest.raises(ToolError) as refused:
            executor.call(tool, arguments, owner=owner)

        assert refused.value.code == "INVALID_INPUT"
        assert store.table.query(owner).items == partition
        if whole:
            assert store.snapshot() == before

    try:
        check()
    finally:
        for record_id in ("a", "b"):
            executor.call("delete_record", {"record_id": record_id}, owner=owner)


def test_the_property_runs_stay_small(tmp_path: Path) -> None:
    # The suite's speed depends on these; raise them for a one-off deep run, not here.
    assert EXAMPLES["sqlite"] <= 100 and EXAMPLES["dynamodb"] <= 20
