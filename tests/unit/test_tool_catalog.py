"""The tool catalog: schemas/mcp_tools.yaml as OpenAPI 3.1, tool definitions, input validation."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from chatbot.tools.catalog import ToolCatalog, default_schema_path
from chatbot.tools.errors import ToolError, ToolErrorCode

TOOLS = [
    "search_documents",
    "create_record",
    "read_record",
    "update_record",
    "delete_record",
    "list_records",
]
RECORD_TOOLS = TOOLS[1:]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(default_schema_path().read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def catalog() -> ToolCatalog:
    return ToolCatalog.load()


def refusal(catalog: ToolCatalog, name: str, arguments: Any) -> ToolError:
    with pytest.raises(ToolError) as refused:
        catalog.validate(name, arguments)
    return refused.value


def walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from walk(child)


# --- the document ---------------------------------------------------------------------------


def test_the_catalog_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(document).validate()


def test_every_tool_is_one_post_path_named_by_its_operation_id(document: dict[str, Any]) -> None:
    assert list(document["paths"]) == [f"/{name}" for name in TOOLS]
    for path, operations in document["paths"].items():
        assert list(operations) == ["post"]
        assert operations["post"]["operationId"] == path[1:]


def test_the_default_location_is_the_repositorys_schemas_folder() -> None:
    assert (
        default_schema_path() == Path(__file__).resolve().parents[2] / "schemas" / "mcp_tools.yaml"
    )


def test_load_parses_each_file_once(tmp_path: Path) -> None:
    assert ToolCatalog.load() is ToolCatalog.load()
    copied = tmp_path / "tools.yaml"
    copied.write_text(default_schema_path().read_text(encoding="utf-8"), encoding="utf-8")
    assert ToolCatalog.load(copied) is ToolCatalog.load(copied)
    assert ToolCatalog.load(copied) is not ToolCatalog.load()


# --- definitions ----------------------------------------------------------------------------


def test_the_catalog_defines_the_six_tools_in_document_order(catalog: ToolCatalog) -> None:
    assert [definition.name for definition in catalog.definitions] == TOOLS


@pytest.mark.parametrize("name", TOOLS)
def test_every_schema_is_a_valid_json_schema_2020_12_schema(
    catalog: ToolCatalog, name: str
) -> None:
    definition = catalog.definition(name)
    Draft202012Validator.check_schema(definition.input_schema)
    Draft202012Validator.check_schema(definition.output_schema)


@pytest.mark.parametrize("name", TOOLS)
def test_definitions_are_fully_dereferenced(catalog: ToolCatalog, name: str) -> None:
    definition = catalog.definition(name)
    for node in walk([definition.input_schema, definition.output_schema]):
        assert not (isinstance(node, dict) and "$ref" in node)


@pytest.mark.parametrize("name", TOOLS)
def test_every_input_is_a_closed_object(catalog: ToolCatalog, name: str) -> None:
    schema = catalog.definition(name).input_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", RECORD_TOOLS)
def test_record_tool_descriptions_say_whose_records_and_what_comes_back(
    catalog: ToolCatalog, name: str
) -> None:
    description = catalog.definition(name).description
    assert "current chat session" in description
    assert "{success: true" in description


def test_search_description_gives_the_result_shape(catalog: ToolCatalog) -> None:
    description = catalog.definition("search_documents").description
    assert "{success: true, results: [{id, content, source, score}]}" in description


@pytest.mark.parametrize("name", TOOLS)
def test_every_schema_default_is_valid_for_its_property(catalog: ToolCatalog, name: str) -> None:
    for field, schema in catalog.definition(name).input_schema["properties"].items():
        if "default" in schema:
            assert Draft202012Validator(schema).is_valid(schema["default"]), field


def test_only_the_records_table_is_readable_or_writable(catalog: ToolCatalog) -> None:
    permissions = catalog.table_permissions
    assert permissions["records"] == {"read": True, "write": True}
    for system_table in ("sessions", "connections", "conversations", "analytics"):
        assert permissions[system_table] == {"read": False, "write": False}


# --- validation -----------------------------------------------------------------------------


def test_validation_applies_defaults_to_a_copy(catalog: ToolCatalog) -> None:
    arguments = {"query": "refunds"}

    assert catalog.validate("search_documents", arguments) == {"query": "refunds", "limit": 5}
    assert catalog.validate("list_records", {}) == {"table": "records", "limit": 20}
    assert arguments == {"query": "refunds"}


def test_validation_returns_a_copy_the_caller_cannot_change_through(catalog: ToolCatalog) -> None:
    arguments = {"record_id": "r1", "data": {"list": [1]}}

    valid = catalog.validate("update_record", arguments)
    valid["data"]["list"].append(2)

    assert arguments["data"] == {"list": [1]}


def test_changing_a_listed_schema_does_not_change_validation(tmp_path: Path) -> None:
    copied = tmp_path / "tools.yaml"
    copied.write_text(default_schema_path().read_text(encoding="utf-8"), encoding="utf-8")
    catalog = ToolCatalog.load(copied)

    schema = catalog.definition("search_documents").input_schema
    schema["properties"]["limit"]["maximum"] = 1000
    schema["properties"]["limit"]["default"] = 999

    assert catalog.validate("search_documents", {"query": "x"})["limit"] == 5
    with pytest.raises(ToolError):
        catalog.validate("search_documents", {"query": "x", "limit": 500})


def test_an_unknown_tool_is_refused_with_the_tools_that_exist(catalog: ToolCatalog) -> None:
    error = refusal(catalog, "drop_everything", {})
    assert error.code == ToolErrorCode.UNKNOWN_TOOL
    assert "search_documents" in error.message
    with pytest.raises(ToolError):
        catalog.definition("drop_everything")


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("search_documents", {}, "Missing required field query."),
        ("search_documents", {"query": "   "}, "query must contain a character that is not"),
        ("search_documents", {"query": ""}, "query must be at least 1 characters long."),
        ("search_documents", {"query": "x", "limit": 0}, "limit must be at least 1."),
        ("search_documents", {"query": "x", "limit": 21}, "limit must be at most 20."),
        ("search_documents", {"query": "x", "limit": "5"}, "limit must be an integer."),
        ("search_documents", {"query": "x", "extra": 1}, 'unexpected field "extra"'),
        ("list_records", {"limit": 51}, "limit must be at most 50."),
        ("read_record", {"record_id": "a b"}, "record_id is not valid."),
        ("read_record", {"record_id": "x" * 65}, "record_id is not valid."),
        ("read_record", {"record_id": "r1\n"}, "record_id is not valid."),
        ("list_records", {"cursor": "cjE\n"}, "cursor is not valid."),
        ("create_record", {"data": []}, "data must be an object."),
        ("create_record", {"data": {}}, "data must have at least 1 fields."),
        ("create_record", {"data": {"id": 1}}, 'the field name "id" is reserved.'),
        ("create_record", {"data": {"": 1}}, "must be 1 to 64 characters."),
        ("create_record", {"data": {"a": "x" * 10_001}}, "data.a must be at most 10000 characters"),
        ("create_record", {"data": {"a": list(range(101))}}, "data.a must have at most 100 items."),
        ("create_record", {"data": {"a": [[[[1]]]]}}, "data.a[0][0][0] is nested too deeply"),
        ("create_record", {"data": {"a": float("nan")}}, "data.a must be a finite number."),
        ("create_record", {"data": {"a": "\ud800"}}, "data.a is not valid Unicode text."),
        ("create_record", {"data": {"a.b": {"\ud800": 1}}}, "is not valid Unicode text."),
        ("update_record", {"record_id": "r1"}, "Missing required field data."),
        ("search_documents", None, "The arguments must be a JSON object."),
    ],
)
def test_invalid_input_is_refused_with_a_message_naming_the_field(
    catalog: ToolCatalog, name: str, arguments: Any, message: str
) -> None:
    error = refusal(catalog, name, arguments)
    assert error.code == ToolErrorCode.INVALID_INPUT
    assert message in error.message


def test_data_may_hold_fifty_fields_but_not_fifty_one(catalog: ToolCatalog) -> None:
    fifty = {f"f{i}": i for i in range(50)}
    catalog.validate("create_record", {"data": fifty})
    error = refusal(catalog, "create_record", {"data": {**fifty, "one_more": 1}})
    assert "data must have at most 50 fields." in error.message


def test_messages_never_echo_long_input(catalog: ToolCatalog) -> None:
    long_name = "N" * 5000
    cases = [
        ("search_documents", {"query": "Q" * 5000}),
        ("search_documents", {"query": "x", long_name: 1}),
        ("create_record", {"data": {long_name: 1}}),
        ("create_record", {"data": {"a": "V" * 20_000}}),
        ("create_record", {"data": {"ok": {long_name: "x"}}}),
    ]
    for name, arguments in cases:
        message = refusal(catalog, name, arguments).message
        assert len(message) < 200, message
        assert "N" * 41 not in message and "Q" * 41 not in message and "V" * 41 not in message


def test_hostile_field_names_are_valid_data(catalog: ToolCatalog) -> None:
    data = {name: 1 for name in ("a.b", "#n", ":v", "x = :y", "SET a", "with space", "日本")}
    assert catalog.validate("create_record", {"data": data})["data"] == data


# --- malformed catalogs ---------------------------------------------------------------------


def _variant(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(document)


def test_a_recursive_reference_is_refused_at_load(document: dict[str, Any]) -> None:
    broken = _variant(document)
    broken["components"]["schemas"]["ScalarValue"] = {"$ref": "#/components/schemas/FieldValue"}
    with pytest.raises(ValueError, match="refers to itself"):
        ToolCatalog(broken)


def test_a_remote_reference_is_refused_at_load(document: dict[str, Any]) -> None:
    broken = _variant(document)
    broken["components"]["schemas"]["RecordId"] = {"$ref": "https://example.com/id.json"}
    with pytest.raises(ValueError, match="local references"):
        ToolCatalog(broken)


def test_a_validation_keyword_beside_a_reference_is_refused_at_load(
    document: dict[str, Any],
) -> None:
    broken = _variant(document)
    properties = broken["components"]["schemas"]["ReadRecordInput"]["properties"]
    properties["record_id"]["maxLength"] = 3
    with pytest.raises(ValueError, match="only annotations"):
        ToolCatalog(broken)


def test_a_path_that_is_not_its_operation_id_is_refused_at_load(document: dict[str, Any]) -> None:
    broken = _variant(document)
    broken["paths"]["/read"] = broken["paths"].pop("/read_record")
    with pytest.raises(ValueError, match="operationId"):
        ToolCatalog(broken)


def test_a_table_permission_must_say_read_and_write(document: dict[str, Any]) -> None:
    broken = _variant(document)
    broken["x-tables"]["records"] = {"read": True}
    with pytest.raises(ValueError, match="read and write"):
        ToolCatalog(broken)


def test_a_tool_error_is_a_failed_result_with_code_and_message() -> None:
    error = ToolError(ToolErrorCode.NOT_FOUND, "No record with id r1 exists in this chat session.")
    assert error.as_result() == {
        "success": False,
        "error": {
            "code": "NOT_FOUND",
            "message": "No record with id r1 exists in this chat session.",
        },
    }
