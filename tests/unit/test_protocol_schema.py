"""schemas/protocol.schema.json: generated from chatbot.protocol, committed, true to the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chatbot.errors import RateLimitedError
from chatbot.protocol import ACTIONS, FrameError, parse_client_frame
from chatbot.protocol_schema import (
    REGENERATE,
    SCHEMA_PATH,
    protocol_schema,
    render,
    server_frame_models,
)
from chatbot.records import Citation, QueryType, Usage
from chatbot.server_frames import (
    AckFrame,
    DeltaFrame,
    ErrorFrame,
    HistoryEntry,
    HistoryFrame,
    MessageFrame,
    PongFrame,
    ServerFrame,
    SessionFrame,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-24T12:00:00.000000Z"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return protocol_schema()


def validator(schema: dict[str, Any], definition: str) -> Draft202012Validator:
    return Draft202012Validator({**schema, "oneOf": [{"$ref": f"#/$defs/{definition}"}]})


def test_the_committed_schema_is_the_one_the_models_generate() -> None:
    assert SCHEMA_PATH == ROOT / "schemas" / "protocol.schema.json"
    committed = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
    assert committed == render(protocol_schema()), (
        "schemas/protocol.schema.json does not match the models in lambda/chatbot/protocol.py; "
        f"regenerate it from the repository root with: {REGENERATE}"
    )


def test_the_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert json.loads(render(schema)) == schema


def test_every_client_action_and_every_server_type_has_a_frame(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]

    def consts(union: str, key: str) -> list[str]:
        refs = [entry["$ref"].rsplit("/", 1)[1] for entry in defs[union]["oneOf"]]
        return [defs[name]["properties"][key]["const"] for name in refs]

    assert consts("AnyClientFrame", "action") == list(ACTIONS)
    assert consts("AnyServerFrame", "type") == [
        model.model_fields["type"].default for model in server_frame_models()
    ]
    assert {"session", "ack", "delta", "message", "history", "error", "pong"} <= set(
        consts("AnyServerFrame", "type")
    )


@pytest.mark.parametrize(
    "frame",
    [
        {"action": "getSession"},
        {"action": "ping"},
        {"action": "sendMessage", "messageId": "m-1", "content": "Hello"},
        {
            "action": "sendMessage",
            "messageId": "m_2",
            "content": "Hi",
            "sessionId": "s1",
            "timestamp": "2026-11-24T12:00:00Z",
            "messageType": "user",
        },
        {"action": "getHistory"},
        {"action": "getHistory", "limit": 10, "before": "m-1"},
        {"action": "feedback", "messageId": "m-1", "rating": "up", "comment": "clear"},
    ],
)
def test_frames_the_server_accepts_match_the_client_schema(
    schema: dict[str, Any], frame: dict[str, Any]
) -> None:
    parse_client_frame(json.dumps(frame), max_bytes=131072)
    assert list(validator(schema, "AnyClientFrame").iter_errors(frame)) == []


@pytest.mark.parametrize(
    "frame",
    [
        {"action": "sendMessage", "messageId": "has space", "content": "Hello"},
        {"action": "sendMessage", "messageId": "m-1", "content": ""},
        {"action": "sendMessage", "messageId": "m-1", "content": "Hi", "messageType": "system"},
        {"action": "getHistory", "limit": 0},
        {"action": "getHistory", "limit": "5"},
        {"action": "feedback", "messageId": "m-1", "rating": "meh"},
        {"action": "dance"},
        {"content": "no action"},
    ],
)
def test_frames_the_server_refuses_fail_the_client_schema(
    schema: dict[str, Any], frame: dict[str, Any]
) -> None:
    with pytest.raises(FrameError):
        parse_client_frame(json.dumps(frame), max_bytes=131072)
    assert not validator(schema, "AnyClientFrame").is_valid(frame)


SENT: list[ServerFrame] = [
    SessionFrame(sessionId="s1", sessionToken="t", resumed=False, createdAt=NOW),
    AckFrame(messageId="m-1", sessionId="s1", timestamp=NOW),
    AckFrame(messageId="m-1", sessionId="s1", timestamp=NOW, duplicate=True),
    DeltaFrame(messageId="m-1", index=0, content="Hel"),
    MessageFrame(
        sessionId="s1", messageId="m-1", content="Hello", timestamp=NOW, queryType=QueryType.GENERAL
    ),
    MessageFrame(
        sessionId="s1",
        messageId="m-1",
        content="Pumps move water [1].",
        timestamp=NOW,
        queryType=QueryType.RAG,
        sources=["docs/pumps.md"],
        citations=[Citation(id="1", source="docs/pumps.md", score=0.8, excerpt="Pumps move")],
        usage=Usage(inputTokens=10, outputTokens=5, latencyMs=40, costUsd=0.0001),
    ),
    HistoryFrame(
        sessionId="s1",
        messages=[
            HistoryEntry(messageId="m-1", role="user", content="Hi", timestamp=NOW),
            HistoryEntry(
                messageId="m-1",
                role="assistant",
                content="Hello",
                timestamp=NOW,
                queryType=QueryType.GENERAL,
                sources=[],
                toolsUsed=[],
            ),
        ],
    ),
    ErrorFrame.from_error(RateLimitedError(), "m-1"),
    ErrorFrame.from_error(RateLimitedError()),
    PongFrame(),
]


@pytest.mark.parametrize("frame", SENT, ids=lambda frame: frame.to_json()[:40])
def test_frames_the_server_sends_match_the_server_schema(
    schema: dict[str, Any], frame: ServerFrame
) -> None:
    sent = json.loads(frame.to_json())
    assert list(validator(schema, "AnyServerFrame").iter_errors(sent)) == []


def test_the_server_schema_requires_what_is_always_sent_and_forbids_null(
    schema: dict[str, Any],
) -> None:
    check = validator(schema, "AnyServerFrame")
    ack = json.loads(AckFrame(messageId="m-1", sessionId="s1", timestamp=NOW).to_json())
    assert check.is_valid(ack)
    assert not check.is_valid({key: value for key, value in ack.items() if key != "type"})
    assert not check.is_valid({**ack, "duplicate": None})
    assert not check.is_valid({**ack, "type": "acknowledged"})
