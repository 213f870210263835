"""``listSessions``: a signed-in user's sessions, newest first, titled by their first question."""

from __future__ import annotations

import json
from typing import Any

from chatbot.analytics import AnalyticsRecorder
from chatbot.chat_service import ChatService
from chatbot.conversations import ConversationStore
from chatbot.handlers.websocket import handle_event
from chatbot.limits import ConnectRequest
from chatbot.sessions import SessionManager
from chatbot.tokens import SessionTokens
from tests.conftest import FakeClock
from tests.unit.chat_harness import LimitedSender, chat_service

TOKENS = SessionTokens(b"0123456789abcdef0123456789abcdef")  # the harness's key


def open_session(service: ChatService, connection: str, user: str | None) -> str:
    result = service.connect(connection, {}, request=ConnectRequest(user_sub=user))
    assert result.session_id is not None
    return result.session_id


def ask(service: ChatService, connection: str, message_id: str, content: str) -> None:
    frame = {"action": "sendMessage", "messageId": message_id, "content": content}
    service.handle_frame(connection, json.dumps(frame))


def test_a_signed_in_user_lists_their_sessions_newest_first_with_titles_and_tokens(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    first = open_session(service, "c1", "alice")
    ask(service, "c1", "m1", "  " + "Where is the invoice for order 1234? " * 5)
    ask(service, "c1", "m2", "and a second question")
    clock.advance(minutes=1)
    second = open_session(service, "c2", "alice")
    clock.advance(minutes=1)
    open_session(service, "c3", "bob")
    open_session(service, "c4", None)

    service.handle_frame("c2", json.dumps({"action": "listSessions"}))

    frame = sender.last()
    assert frame["type"] == "sessions"
    listed = frame["sessions"]
    assert [s["sessionId"] for s in listed] == [second, first]
    assert listed[0]["title"] == ""
    expected = ("Where is the invoice for order 1234? " * 5).strip()[:80]
    assert listed[1]["title"] == expected and len(expected) == 80
    for entry in listed:
        assert TOKENS.verify(entry["sessionId"], entry["sessionToken"])
        stored = sessions.get_session(entry["sessionId"])
        assert stored is not None
        assert (entry["createdAt"], entry["lastActivity"]) == (
            stored.createdAt,
            stored.lastActivity,
        )


def test_a_closed_session_is_not_listed(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    old = open_session(service, "c1", "alice")
    current = open_session(service, "c2", "alice")
    closed = sessions.get_session(old)
    assert closed is not None and sessions.close_session(closed, "timeout")
    service.handle_frame("c2", json.dumps({"action": "listSessions"}))
    assert [s["sessionId"] for s in sender.last()["sessions"]] == [current]


def test_without_sign_in_list_sessions_is_an_unknown_action(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    open_session(service, "c1", None)
    service.handle_frame("c1", json.dumps({"action": "listSessions"}))
    error = sender.last()
    assert error["type"] == "error" and error["code"] == "UNKNOWN_ACTION"
    assert "listSessions needs sign-in" in error["message"]
    assert error["retryable"] is False


def test_the_title_is_the_first_question_only(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    service = chat_service(sessions, conversations, analytics, LimitedSender(), clock)
    session_id = open_session(service, "c1", None)
    ask(service, "c1", "m1", "first")
    ask(service, "c1", "m2", "second")
    stored = sessions.get_session(session_id)
    assert stored is not None and stored.title == "first"


def websocket_event(route: str, connection: str, **extra: Any) -> dict[str, Any]:
    event_type = {"$connect": "CONNECT"}.get(route, "MESSAGE")
    context: dict[str, Any] = {
        "routeKey": route,
        "eventType": event_type,
        "connectionId": connection,
        "identity": {"sourceIp": "198.51.100.7"},
    }
    context.update(extra.pop("context", {}))
    return {"requestContext": context, "isBase64Encoded": False, **extra}


def test_through_the_handler_the_authorizers_sub_owns_and_lists_the_session(
    sessions: SessionManager,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    clock: FakeClock,
) -> None:
    sender = LimitedSender()
    service = chat_service(sessions, conversations, analytics, sender, clock)
    signed_in = {"authorizer": {"sub": "carol", "principalId": "carol"}}
    connect = websocket_event("$connect", "c1", context=signed_in)
    assert handle_event(connect, service) == {"statusCode": 200}
    handle_event(websocket_event("$default", "c1", body='{"action": "getSession"}'), service)
    session_id = sender.last()["sessionId"]
    handle_event(websocket_event("$default", "c1", body='{"action": "listSessions"}'), service)
    assert [s["sessionId"] for s in sender.last()["sessions"]] == [session_id]
