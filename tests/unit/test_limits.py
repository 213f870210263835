"""The front door's ceilings, through the runtime's real wiring: new sessions and messages per
source IP a minute, the Origin allow-list, sessions owned by the signed-in user, and refused
frames counted without one analytics row each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbot.chat_service import ChatService
from chatbot.config import Settings
from chatbot.limits import ConnectRequest, source_key
from chatbot.runtime import Runtime, build_chat_service, build_runtime
from chatbot.tables import Tables
from tests.conftest import FakeClock
from tests.unit.conftest import RecordingInvoker, RecordingSender, day_events

IP = "203.0.113.7"
HOST = "127.0.0.1:8080"


def runtime_on(tables: Tables, clock: FakeClock, tmp_path: Path, **env: Any) -> Runtime:
    settings = Settings(CHATBOT_STATE_DIR=tmp_path, **env)
    return build_runtime(settings, tables, lambda: b"k" * 32, clock)


@pytest.fixture
def runtime(tables: Tables, clock: FakeClock, tmp_path: Path) -> Runtime:
    return runtime_on(tables, clock, tmp_path)


@pytest.fixture
def service(runtime: Runtime, sender: RecordingSender) -> ChatService:
    return build_chat_service(runtime, sender, RecordingInvoker())


def frames(sender: RecordingSender) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in sender.posted]


def new_session(service: ChatService, n: int, ip: str = IP, **request: Any) -> int:
    result = service.connect(f"c{n}", {}, request=ConnectRequest(source_ip=ip, **request))
    return result.status_code


def send(service: ChatService, connection: str, message_id: str, ip: str = IP) -> None:
    body = {"action": "sendMessage", "messageId": message_id, "content": "hi"}
    service.handle_frame(connection, json.dumps(body), source_ip=ip)


# --- new sessions per source IP ------------------------------------------------------------


def test_the_eleventh_new_session_from_one_ip_in_a_minute_is_refused_with_429(
    service: ChatService, tables: Tables
) -> None:
    statuses = [new_session(service, n) for n in range(12)]
    assert statuses == [200] * 10 + [429, 429]
    # Only the ten admitted made sessions.
    assert [tables.connections.get({"connectionId": f"c{n}"}) is not None for n in (9, 10)] == [
        True,
        False,
    ]


def test_another_ip_is_not_held_back_and_the_bound_resets_the_next_minute(
    service: ChatService, clock: FakeClock
) -> None:
    for n in range(10):
        assert new_session(service, n) == 200
    assert new_session(service, 10) == 429
    assert new_session(service, 11, ip="198.51.100.1") == 200
    clock.advance(minutes=1)
    assert new_session(service, 12) == 200


def test_ipv6_sources_are_counted_by_their_slash_64() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9")
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("203.0.113.7") == "203.0.113.7"


def test_a_bound_of_zero_turns_the_limit_off(
    tables: Tables, clock: FakeClock, tmp_path: Path, sender: RecordingSender
) -> None:
    runtime = runtime_on(tables, clock, tmp_path, SESSIONS_PER_IP_PER_MINUTE=0)
    service = build_chat_service(runtime, sender, RecordingInvoker())
    assert {new_session(service, n) for n in range(30)} == {200}


# --- messages per source IP ----------------------------------------------------------------


def test_the_thirty_first_message_from_one_ip_in_a_minute_is_rate_limited_across_sessions(
    service: ChatService, sender: RecordingSender, runtime: Runtime, clock: FakeClock
) -> None:
    # Ten sessions from one IP, three messages each: under every session's own limit.
    for n in range(10):
        assert new_session(service, n) == 200
    for n in range(10):
        for m in range(3):
            send(service, f"c{n}", f"m{n}-{m}")
    assert [f["type"] for f in frames(sender)] == ["ack"] * 30
    send(service, "c0", "over")
    refused = frames(sender)[-1]
    assert (refused["type"], refused["code"], refused["retryable"]) == (
        "error",
        "RATE_LIMITED",
        True,
    )
    assert refused["messageId"] == "over"
    session_id = runtime.sessions.connection("c0").sessionId
    assert runtime.conversations.get(session_id, "over", "user") is None
    clock.advance(minutes=1)
    send(service, "c0", "later")
    assert frames(sender)[-1]["type"] == "ack"


# --- Origin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),  # a terminal client sends none
        ("http://127.0.0.1:8080", 200),
        ("http://localhost:8080", 200),
        ("http://localhost:8080/", 200),
        ("http://localhost:9999", 403),
        ("https://evil.example", 403),
        ("null", 403),
    ],
)
def test_by_default_only_the_local_page_at_the_same_port_may_connect(
    service: ChatService, origin: str | None, status: int
) -> None:
    assert new_session(service, 1, origin=origin, host=HOST) == status


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://192.168.1.20:8080", 200),  # the page, opened from another machine
        ("http://192.168.1.20:9999", 403),
        ("http://192.168.1.21:8080", 403),
        ("ftp://192.168.1.20:8080", 403),
    ],
)
def test_by_default_the_page_of_the_host_the_browser_connected_to_may_connect(
    service: ChatService, origin: str, status: int
) -> None:
    assert new_session(service, 1, origin=origin, host="192.168.1.20:8080") == status


def test_allowed_origins_replace_the_default_and_a_star_allows_any(
    tables: Tables, clock: FakeClock, tmp_path: Path, sender: RecordingSender
) -> None:
    listed = build_chat_service(
        runtime_on(tables, clock, tmp_path, ALLOWED_ORIGINS="https://chat.example.com"),
        sender,
        RecordingInvoker(),
    )
    assert new_session(listed, 1, origin="https://chat.example.com", host="x") == 200
    assert new_session(listed, 2, origin="http://127.0.0.1:8080", host=HOST) == 403
    star = build_chat_service(
        runtime_on(tables, clock, tmp_path, ALLOWED_ORIGINS="*"), sender, RecordingInvoker()
    )
    assert new_session(star, 3, origin="https://anything.example", host=HOST) == 200


def test_a_refused_origin_makes_no_session(service: ChatService, tables: Tables) -> None:
    assert new_session(service, 1, origin="https://evil.example", host=HOST) == 403
    assert tables.connections.get({"connectionId": "c1"}) is None


# --- sessions of signed-in users -------------------------------------------------------------


def test_a_session_belongs_to_its_signed_in_user_and_another_cannot_resume_it(
    service: ChatService, runtime: Runtime
) -> None:
    created = service.connect("c1", {}, request=ConnectRequest(source_ip=IP, user_sub="alice"))
    assert created.session_id is not None
    session = runtime.sessions.get_session(created.session_id)
    assert session is not None and session.userSub == "alice"
    query = {
        "sessionId": created.session_id,
        "sessionToken": runtime.tokens.issue(created.session_id),
    }

    def resume(sub: str | None) -> int:
        request = ConnectRequest(source_ip=IP, user_sub=sub)
        return service.connect("c2", query, request=request).status_code

    assert resume("mallory") == 403
    assert resume(None) == 403
    assert resume("alice") == 200


def test_without_sign_in_sessions_have_no_owner_and_resume_as_before(
    service: ChatService, runtime: Runtime
) -> None:
    created = service.connect("c1", {}, request=ConnectRequest(source_ip=IP))
    assert created.session_id is not None
    token = runtime.tokens.issue(created.session_id)
    query = {"sessionId": created.session_id, "sessionToken": token}
    assert service.connect("c2", query, request=ConnectRequest(source_ip=IP)).status_code == 200


# --- refused frames --------------------------------------------------------------------------


def test_five_thousand_invalid_frames_add_one_counted_analytics_event_not_five_thousand(
    service: ChatService, tables: Tables, clock: FakeClock, sender: RecordingSender
) -> None:
    assert new_session(service, 1) == 200
    day = clock.now().strftime("%Y-%m-%d")
    before = len(day_events(tables.analytics, day))
    for _ in range(5000):
        service.handle_frame("c1", "not json", source_ip=IP)
    # Every frame is still answered.
    assert [f["code"] for f in frames(sender)] == ["INVALID_MESSAGE"] * 5000
    rows = day_events(tables.analytics, day)
    assert len(rows) == before + 1
    [refused] = [row for row in rows if row["eventType"] == "error"]
    assert refused["count"] == 5000
    assert refused["details"] == {"code": "INVALID_MESSAGE", "stage": "frame"}
    # A new minute, a new code: one more row each.
    clock.advance(minutes=1)
    service.handle_frame("c1", "not json", source_ip=IP)
    service.handle_frame("c1", json.dumps({"action": "nope"}), source_ip=IP)
    errors = [row for row in day_events(tables.analytics, day) if row["eventType"] == "error"]
    assert sorted((row["details"]["code"], row["count"]) for row in errors) == [
        ("INVALID_MESSAGE", 1),
        ("INVALID_MESSAGE", 5000),
        ("UNKNOWN_ACTION", 1),
    ]
