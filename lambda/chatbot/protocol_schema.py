"""The JSON Schema of every protocol frame, generated from the pydantic models of ``protocol``
(client frames) and ``server_frames``.

The output is committed as ``schemas/protocol.schema.json`` (docs/protocol.md describes the
protocol in words); ``tests/unit/test_protocol_schema.py`` fails when it no longer matches the
models. Regenerate it from the repository root with::

    PYTHONPATH=lambda .venv/bin/python -m chatbot.protocol_schema

Client frames are described as the server validates them (``mode="validation"``). Server
frames are described as they go on the wire: ``ServerFrame.to_json`` leaves out every field
that is None, so a field that may be None is optional and never ``null``, and every other
field is always present.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chatbot import protocol, server_frames

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "protocol.schema.json"
REGENERATE = "PYTHONPATH=lambda .venv/bin/python -m chatbot.protocol_schema"
_REF = "#/$defs/{model}"


def client_frame_models() -> list[type[BaseModel]]:
    """Every frame a client may send, in the protocol's order."""
    return list(protocol.FRAME_TYPES.values())


def server_frame_models() -> list[type[BaseModel]]:
    """Every frame the server sends: each subclass of ``ServerFrame``, in definition order."""
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = list(server_frames.ServerFrame.__subclasses__())
    while pending:
        model = pending.pop(0)
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def protocol_schema() -> dict[str, Any]:
    """One JSON Schema (draft 2020-12): a frame is one client frame or one server frame."""
    clients = client_frame_models()
    servers = server_frame_models()
    client_refs, client_defs = models_json_schema(
        [(model, "validation") for model in clients], ref_template=_REF
    )
    server_refs, server_defs = models_json_schema(
        [(model, "serialization") for model in servers], ref_template=_REF
    )
    wire_defs = {name: _as_sent(schema) for name, schema in server_defs.get("$defs", {}).items()}
    defs: dict[str, Any] = dict(client_defs.get("$defs", {}))
    clash = sorted(set(defs) & set(wire_defs))
    if clash:
        raise ValueError(f"client and server frames share definitions: {', '.join(clash)}")
    defs.update(wire_defs)
    defs["AnyClientFrame"] = {
        "description": "A frame a client sends: one JSON object with an `action`.",
        "oneOf": [client_refs[(model, "validation")] for model in clients],
    }
    defs["AnyServerFrame"] = {
        "description": "A frame the server sends: one JSON object with a `type`.",
        "oneOf": [server_refs[(model, "serialization")] for model in servers],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Chatbot WebSocket protocol frames",
        "description": (
            "Generated from lambda/chatbot/protocol.py and server_frames.py by "
            "`python -m chatbot.protocol_schema`; do not edit. docs/protocol.md describes the "
            "protocol."
        ),
        "oneOf": [{"$ref": "#/$defs/AnyClientFrame"}, {"$ref": "#/$defs/AnyServerFrame"}],
        "$defs": dict(sorted(defs.items())),
    }


def render(schema: dict[str, Any]) -> str:
    """The committed file's exact text."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _as_sent(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema as ``to_json`` (``exclude_none``) writes it: nullable fields optional
    and never null, every other field required."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    required: list[str] = []
    sent: dict[str, Any] = {}
    for name, field in properties.items():
        branches = field.get("anyOf")
        if isinstance(branches, list) and {"type": "null"} in branches:
            field = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
            rest = [branch for branch in branches if branch != {"type": "null"}]
            field = {**rest[0], **field} if len(rest) == 1 else {"anyOf": rest, **field}
        else:
            required.append(name)
        sent[name] = field
    result = {**schema, "properties": sent}
    result.pop("required", None)
    if required:
        result["required"] = required
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chatbot.protocol_schema",
        description="Write the protocol's JSON Schema, generated from its models.",
    )
    parser.add_argument("--output", type=Path, default=SCHEMA_PATH, help="default: %(default)s")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file differs from the models",
    )
    args = parser.parse_args(argv)
    text = render(protocol_schema())
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        return 0 if current == text else 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
