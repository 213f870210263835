"""Hostile frames through the WebSocket Lambda handler: none crashes it, each gets an error."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.adapters.local import events
from chatbot.config import Settings
from chatbot.handlers import websocket
from chatbot.ports import EngineRequest
from chatbot.runtime import build_chat_service, runtime_from_settings

CONNECTION = "fuzzconn0001="
COMMON = {
    "domain_name": "localhost",
    "source_ip": "127.0.0.1",
    "connected_at_ms": 1_700_000_000_000,
    "request_time_ms": 1_700_000_000_500,
}


class Sender:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def post(self, connection_id: str, data: str) -> None:
        self.frames.append(json.loads(data))

    def delete(self, connection_id: str) -> None:
        raise AssertionError("a bad frame must not close the connection")


class Invoker:
    def invoke(self, request: EngineRequest) -> None:
        raise AssertionError("a bad frame must not reach the engine")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
mutated = st.fixed_dictionaries(
    {"action": st.just("sendMessage")},
    optional={
        "messageId": st.text(max_size=80) | st.integers(),
        "content": st.integers() | st.lists(st.text()) | st.just("x" * 9000),
        "messageType": st.just("system"),
        "timestamp": st.text(max_size=40),
    },
).filter(lambda frame: not isinstance(frame.get("content"), str) or "messageType" in frame)
hostile = st.one_of(
    st.binary(max_size=300),
    json_values.filter(lambda value: not isinstance(value, dict)).map(json.dumps),
    st.dictionaries(st.text(), json_values, max_size=4)
    .filter(lambda d: d.get("action") not in ("ping", "getSession", "getHistory", "feedback"))
    .filter(lambda d: d.get("action") != "sendMessage")
    .map(json.dumps),
    mutated.map(json.dumps),
    st.integers(33, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(33, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.text(alphabet=st.characters(categories=["Cs", "Co", "Cn", "Mn", "Zl"]), max_size=50).map(
        lambda action: json.dumps({"action": action})
    ),
)


def _service() -> tuple[Any, Sender, Any]:
    state = Path(tempfile.mkdtemp(prefix="fuzz-")) / "state"
    runtime = runtime_from_settings(Settings(CHATBOT_STATE_DIR=state, RATE_LIMIT_PER_MINUTE=10**6))
    sender = Sender()
    service = build_chat_service(runtime, sender, Invoker())
    connect = events.connect_event(CONNECTION, query={}, headers={}, **COMMON)
    assert websocket.handle_event(connect, service)["statusCode"] == 200
    return service, sender, runtime


SERVICE, SENDER, RUNTIME = _service()


def _session_item() -> Any:
    binding = RUNTIME.tables.connections.get({"connectionId": CONNECTION})
    return RUNTIME.tables.sessions.get({"sessionId": binding["sessionId"]})


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=hostile)
def test_every_hostile_frame_is_answered_with_a_protocol_error_and_changes_nothing(
    frame: str | bytes,
) -> None:
    before = _session_item()
    SENDER.frames.clear()
    result = websocket.handle_event(events.message_event(CONNECTION, frame, **COMMON), SERVICE)
    assert result == {"statusCode": 200}
    [reply] = SENDER.frames
    assert reply["type"] == "error"
    assert reply["code"] in {"INVALID_MESSAGE", "UNKNOWN_ACTION", "MESSAGE_TOO_LARGE"}
    assert _session_item() == before
