"""The tool catalog: tool definitions and input validation, read from schemas/mcp_tools.yaml."""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# No stubs pinned for these two (types-PyYAML, types-jsonschema); they are typed at our use.
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from chatbot.tools.errors import ToolError, ToolErrorCode

SCHEMA_FILE = "mcp_tools.yaml"

# Keywords that may sit beside a $ref and override the target's own: annotations only, so
# that replacing the $ref by its target never changes what validates.
_ANNOTATIONS = frozenset({"description", "title", "default", "examples"})

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Field names from the input appear in messages cut to this length, never whole.
_ECHO_LIMIT = 40


@dataclass(frozen=True)
class ToolDefinition:
    """One tool as MCP clients see it; both schemas are plain JSON Schema (no $ref)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


def default_schema_path() -> Path:
    """The catalog file: in the repository, or beside the ``chatbot`` package in a Lambda."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[3] / "schemas" / SCHEMA_FILE,
        here.parents[2] / "schemas" / SCHEMA_FILE,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_FILE} not found in {', '.join(map(str, candidates))}")


class ToolCatalog:
    """The tools of one OpenAPI 3.1 document: one POST path per tool, operationId its name."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._definitions: dict[str, ToolDefinition] = {}
        # Validation runs on private copies: a caller changing a definition's schema (an SDK
        # adding keys to what it lists) must not change what the catalog accepts.
        self._validators: dict[str, Draft202012Validator] = {}
        self._defaults: dict[str, dict[str, Any]] = {}
        for path, operations in _mapping(document, "paths").items():
            definition = _definition(document, path, operations)
            if definition.name in self._definitions:
                raise ValueError(f"tool {definition.name} is defined twice")
            Draft202012Validator.check_schema(definition.input_schema)
            Draft202012Validator.check_schema(definition.output_schema)
            self._definitions[definition.name] = definition
            schema = copy.deepcopy(definition.input_schema)
            self._validators[definition.name] = Draft202012Validator(schema)
            self._defaults[definition.name] = {
                field: spec["default"]
                for field, spec in schema.get("properties", {}).items()
                if "default" in spec
            }
        self._table_permissions = _permissions(document.get("x-tables", {}))

    @classmethod
    def load(cls, path: Path | None = None) -> ToolCatalog:
        """The catalog of ``path`` (default: ``default_schema_path()``), parsed once per file."""
        return _load((path or default_schema_path()).resolve())

    @property
    def definitions(self) -> list[ToolDefinition]:
        return list(self._definitions.values())

    @property
    def table_permissions(self) -> dict[str, dict[str, bool]]:
        """``{table: {"read": bool, "write": bool}}`` for every table a tool may name."""
        return copy.deepcopy(self._table_permissions)

    def definition(self, name: str) -> ToolDefinition:
        found = self._definitions.get(name)
        if found is None:
            raise self._unknown_tool()
        return found

    def validate(self, name: str, arguments: Any) -> dict[str, Any]:
        """A copy of ``arguments`` with schema defaults applied, if they are valid for ``name``.

        Raises ToolError UNKNOWN_TOOL or INVALID_INPUT; the message names the failing field.
        """
        validator = self._validators.get(name)
        if validator is None:
            raise self._unknown_tool()
        if not isinstance(arguments, Mapping):
            raise ToolError(ToolErrorCode.INVALID_INPUT, "The arguments must be a JSON object.")
        error = best_match(validator.iter_errors(arguments))
        if error is not None:
            raise ToolError(ToolErrorCode.INVALID_INPUT, _describe(error))
        # JSON Schema cannot say "finite" or "valid Unicode"; the stores need both.
        _check_json_values(arguments, ())
        valid: dict[str, Any] = copy.deepcopy(dict(arguments))
        for field, default in self._defaults[name].items():
            if field not in valid:
                valid[field] = copy.deepcopy(default)
        return valid

    def _unknown_tool(self) -> ToolError:
        names = ", ".join(self._definitions)
        return ToolError(ToolErrorCode.UNKNOWN_TOOL, f"Unknown tool. Available tools: {names}.")


@functools.cache
def _load(path: Path) -> ToolCatalog:
    with path.open(encoding="utf-8") as file:
        document = yaml.safe_load(file)
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not an OpenAPI document")
    return ToolCatalog(document)


# --- reading the document ---------------------------------------------------------------


def _mapping(node: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = node.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a mapping in the tool catalog")
    return value


def _definition(document: Mapping[str, Any], path: str, operations: Any) -> ToolDefinition:
    if not isinstance(operations, Mapping):
        raise ValueError(f"path {path} must be a mapping")
    operation = _mapping(operations, "post")
    name = operation.get("operationId")
    if not isinstance(name, str) or path != f"/{name}":
        raise ValueError(f"path {path} must be /<operationId>")
    request = _mapping(_mapping(_mapping(operation, "requestBody"), "content"), "application/json")
    response = _mapping(_mapping(_mapping(operation, "responses"), "200"), "content")
    summary = str(operation.get("summary", "")).strip()
    details = str(operation.get("description", "")).strip()
    return ToolDefinition(
        name=name,
        description="\n\n".join(text for text in (summary, details) if text),
        input_schema=_dereferenced(document, _mapping(request, "schema")),
        output_schema=_dereferenced(
            document, _mapping(_mapping(response, "application/json"), "schema")
        ),
    )


def _dereferenced(document: Mapping[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local $ref replaced by a copy of its target (no cycles allowed)."""
    if isinstance(node, list):
        return [_dereferenced(document, element, seen) for element in node]
    if not isinstance(node, Mapping):
        return node
    reference = node.get("$ref")
    if reference is None:
        return {key: _dereferenced(document, value, seen) for key, value in node.items()}
    if not isinstance(reference, str) or not reference.startswith("#/"):
        raise ValueError(f"only local references are supported, not {reference!r}")
    if reference in seen:
        raise ValueError(f"{reference} refers to itself; unroll it to a fixed depth")
    siblings = {key: value for key, value in node.items() if key != "$ref"}
    if not set(siblings) <= _ANNOTATIONS:
        raise ValueError(f"only annotations may sit beside $ref {reference}")
    target = _dereferenced(document, _pointer(document, reference), (*seen, reference))
    if not isinstance(target, dict):
        raise ValueError(f"{reference} is not a schema")
    return {**target, **copy.deepcopy(siblings)}


def _pointer(document: Mapping[str, Any], reference: str) -> Any:
    node: Any = document
    for token in reference[2:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"unresolvable reference {reference}")
        node = node[key]
    return node


def _permissions(tables: Any) -> dict[str, dict[str, bool]]:
    if not isinstance(tables, Mapping):
        raise ValueError("x-tables must map table names to permissions")
    permissions: dict[str, dict[str, bool]] = {}
    for table, allowed in tables.items():
        if not isinstance(allowed, Mapping) or not all(
            isinstance(allowed.get(action), bool) for action in ("read", "write")
        ):
            raise ValueError(f"x-tables.{table} must say read and write as true or false")
        permissions[str(table)] = {"read": allowed["read"], "write": allowed["write"]}
    return permissions


# --- messages ---------------------------------------------------------------------------


def _echo(name: str) -> str:
    """A field name from the input, quoted and cut short, for a message."""
    cut = name if len(name) <= _ECHO_LIMIT else name[:_ECHO_LIMIT] + "..."
    # Lone surrogates become "?", so the message itself is always valid text.
    printable = cut.encode("utf-8", "replace").decode("utf-8")
    return json.dumps(printable, ensure_ascii=False)


def _field_path(path: Iterable[str | int]) -> str:
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif _PLAIN_NAME.match(segment) and len(segment) <= _ECHO_LIMIT:
            text += f".{segment}" if text else segment
        else:
            text += f"[{_echo(segment)}]"
    return text


def _describe(error: ValidationError) -> str:
    """A short message naming the field; built from the schema, never from long input."""
    where = _field_path(error.absolute_path) or "arguments"
    keyword, instance = error.validator, error.instance
    # The stubs allow "unset"; a reported error always carries its keyword's value.
    expected: Any = error.validator_value
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        if keyword == "not":
            return f"{where}: the field name {_echo(instance)} is reserved."
        return f"{where}: the field name {_echo(instance)} must be 1 to 64 characters."
    if keyword == "required" and isinstance(instance, Mapping):
        missing = next(field for field in expected if field not in instance)
        prefix = "" if where == "arguments" else f"{where}."
        return f"Missing required field {prefix}{missing}."
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        extra = next((field for field in instance if field not in known), "?")
        return f"{where}: unexpected field {_echo(str(extra))}; allowed: {', '.join(known)}."
    if keyword == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        if isinstance(instance, list | Mapping) and not {"array", "object"} & set(kinds):
            return f"{where} is nested too deeply: at most three lists or objects deep."
        return f"{where} must be {' or '.join(_TYPE_NAMES.get(kind, kind) for kind in kinds)}."
    if keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        return f"{where} must be {bound} {expected}."
    if keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        return f"{where} must be {bound} {expected} characters long."
    if keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        return f"{where} must have {bound} {expected} items."
    if keyword in ("minProperties", "maxProperties"):
        bound = "at least" if keyword == "minProperties" else "at most"
        return f"{where} must have {bound} {expected} fields."
    if keyword == "pattern":
        if expected == r"\S":
            return f"{where} must contain a character that is not white space."
        description = error.schema.get("description") if isinstance(error.schema, Mapping) else None
        return f"{where} is not valid. {description or ''}".rstrip()
    return f"{where} is not valid."


def check_finite_numbers(value: Any, path: tuple[str | int, ...] = ()) -> None:
    """Refuse ``1e400``, ``NaN`` and ``Infinity`` anywhere in ``value`` (INVALID_INPUT naming
    the field, never the value): JSON has no such numbers, and a store would keep null.

    The MCP server runs this on each call's arguments as they arrive, before the MCP SDK turns
    such numbers into null (chatbot.mcp_transports); ``validate`` runs it again."""
    if isinstance(value, float) and not math.isfinite(value):
        where = _field_path(path) or "arguments"
        raise ToolError(ToolErrorCode.INVALID_INPUT, f"{where} must be a finite number.")
    if isinstance(value, Mapping):
        for key, element in value.items():
            check_finite_numbers(element, (*path, str(key)))
    elif isinstance(value, list):
        for position, element in enumerate(value):
            check_finite_numbers(element, (*path, position))


def _check_json_values(value: Any, path: tuple[str | int, ...]) -> None:
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, float):
        check_finite_numbers(value, path)
    elif isinstance(value, Mapping):
        for key, element in value.items():
            _check_text(str(key), path)
            _check_json_values(element, (*path, str(key)))
    elif isinstance(value, list):
        for position, element in enumerate(value):
            _check_json_values(element, (*path, position))


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: JSON can carry one (as an escape), but no store can hold it.
        where = _field_path(path) or "arguments"
        raise ToolError(
            ToolErrorCode.INVALID_INPUT, f"{where} is not valid Unicode text."
        ) from None
