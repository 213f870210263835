"""PROTOCOL.md, row by row, over a real socket to the local gateway running the Lambda handlers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.records import ConversationRecord, type_partition
from tests.e2e.conftest import ChatClient

pytestmark = pytest.mark.e2e


def stored(gateway: LocalGateway, session_id: str) -> list[ConversationRecord]:
    assert gateway.runtime is not None
    return gateway.runtime.conversations.history(session_id, limit=100)


def deltas_and_final(frames: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return [f for f in frames if f["type"] == "delta"], frames[-1]


# --- connecting and sessions -------------------------------------------------------------


async def test_new_connection_gets_a_fresh_session_with_a_valid_token(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    assert session["resumed"] is False
    assert gateway.runtime is not None
    assert gateway.runtime.tokens.verify(session["sessionId"], session["sessionToken"])
    stored_session = gateway.runtime.sessions.get_session(session["sessionId"])
    assert stored_session is not None and stored_session.isActive


async def test_resuming_with_the_issued_token_keeps_the_session_and_its_history(
    client: ChatClient, connect: Any
) -> None:
    session = await client.session()
    await client.ask("first", "Remember the word aubergine")
    await client.connection.close()
    resumed = await connect(
        f"?sessionId={session['sessionId']}&sessionToken={session['sessionToken']}"
    )
    again = await resumed.session()
    assert again["sessionId"] == session["sessionId"]
    assert again["resumed"] is True
    await resumed.send({"action": "getHistory"})
    history = await resumed.expect("history")
    assert [(m["messageId"], m["role"]) for m in history["messages"]] == [
        ("first", "user"),
        ("first", "assistant"),
    ]
    assert history["messages"][0]["content"] == "Remember the word aubergine"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?sessionId={sid}&sessionToken=wrong", 401),
        ("?sessionId={sid}", 401),
        ("?sessionToken={token}", 401),
    ],
)
async def test_a_wrong_or_missing_token_is_refused_at_the_handshake(
    client: ChatClient, ws_url: str, query: str, status: int
) -> None:
    session = await client.session()
    url = ws_url + query.format(sid=session["sessionId"], token=session["sessionToken"])
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url)
    assert refused.value.response.status_code == status
    # The refused attempt leaks nothing: the body names no session.
    assert session["sessionId"] not in refused.value.response.body.decode()


async def test_an_unknown_or_closed_session_is_refused_even_with_a_valid_token(
    client: ChatClient, gateway: LocalGateway, ws_url: str
) -> None:
    assert gateway.runtime is not None
    tokens = gateway.runtime.tokens
    with pytest.raises(InvalidStatus) as unknown:
        await websockets.connect(f"{ws_url}?sessionId=nope&sessionToken={tokens.issue('nope')}")
    assert unknown.value.response.status_code == 403

    session = await client.session()
    record = gateway.runtime.sessions.get_session(session["sessionId"])
    assert record is not None
    assert gateway.runtime.sessions.close_session(record, "test")
    with pytest.raises(InvalidStatus) as closed:
        await websockets.connect(
            f"{ws_url}?sessionId={session['sessionId']}&sessionToken={session['sessionToken']}"
        )
    assert closed.value.response.status_code == 403


async def test_a_closed_session_answers_session_not_found_on_an_open_connection(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    assert gateway.runtime is not None
    record = gateway.runtime.sessions.get_session(session["sessionId"])
    assert record is not None
    gateway.runtime.sessions.close_session(record, "test")
    frames = await client.ask("late", "anyone there?")
    assert frames == [
        {
            "type": "error",
            "code": "SESSION_NOT_FOUND",
            "message": frames[0]["message"],
            "retryable": False,
            "messageId": "late",
        }
    ]
    assert stored(gateway, session["sessionId"]) == []


async def test_disconnect_removes_the_connection_binding(
    client: ChatClient, gateway: LocalGateway
) -> None:
    await client.session()
    assert gateway.runtime is not None
    connections = gateway.runtime.tables.connections
    [connection_id] = list(gateway._clients)
    assert connections.get({"connectionId": connection_id}) is not None
    await client.connection.close()
    for _ in range(100):
        if connections.get({"connectionId": connection_id}) is None:
            break
        await asyncio.sleep(0.02)
    assert connections.get({"connectionId": connection_id}) is None


# --- sendMessage ---------------------------------------------------------------------------


async def test_a_message_is_acked_then_streamed_in_gapless_deltas_then_answered(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    frames = await client.ask("m-1", "What can you do?")
    assert frames[0]["type"] == "ack"
    assert frames[0]["sessionId"] == session["sessionId"]
    deltas, final = deltas_and_final(frames[1:])
    # The first fragment at once, the rest coalesced (DELTA_MAX_WAIT_MS): at least two frames.
    assert len(deltas) >= 2
    assert [d["index"] for d in deltas] == list(range(len(deltas)))
    assert final["type"] == "message"
    assert "".join(d["content"] for d in deltas) == final["content"]
    assert final["queryType"] == "general"
    assert final["sources"] == [] and final["toolsUsed"] == []
    assert final["usage"]["outputTokens"] > 0
    records = stored(gateway, session["sessionId"])
    assert [(r.messageId, r.messageType, r.status) for r in records] == [
        ("m-1", "user", "answered"),
        ("m-1", "assistant", None),
    ]
    assert records[1].content == final["content"]


async def test_the_user_message_is_stored_before_its_ack_arrives(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    await client.send({"action": "sendMessage", "messageId": "early", "content": "hello"})
    await client.expect("ack")
    assert gateway.runtime is not None
    assert gateway.runtime.conversations.get(session["sessionId"], "early", "user") is not None
    await client.until_final("early")


async def test_second_send_with_same_message_id_is_acknowledged_once_and_answered_once(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    first = await client.ask("dup", "Tell me something")
    again = await client.ask("dup", "Tell me something")
    assert again[0] == {**again[0], "type": "ack", "duplicate": True}
    assert [f["type"] for f in again] == ["ack", "message"]
    assert again[1]["content"] == first[-1]["content"]
    assert len(stored(gateway, session["sessionId"])) == 2


async def test_interleaved_messages_each_get_their_own_stream(client: ChatClient) -> None:
    await client.session()
    ids = [f"i{n}" for n in range(5)]
    for message_id in ids:
        await client.send(
            {
                "action": "sendMessage",
                "messageId": message_id,
                # Small talk, so that every one takes the general path (which quotes it).
                "content": f"Good morning, greetings from {message_id}",
            }
        )
    finals = {}
    for message_id in ids:
        frames = await client.until_final(message_id)
        deltas, final = deltas_and_final(frames)
        assert [d["index"] for d in deltas] == list(range(len(deltas)))
        assert "".join(d["content"] for d in deltas) == final["content"]
        finals[message_id] = final["content"]
    assert all(f"greetings from {message_id}" in finals[message_id] for message_id in ids), finals


async def test_follow_up_messages_give_the_model_the_earlier_turns(client: ChatClient) -> None:
    await client.session()
    await client.ask("t1", "first question")
    frames = await client.ask("t2", "second question")
    assert "1 earlier message" in frames[-1]["content"]


async def test_a_session_id_other_than_the_connections_is_refused(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    await client.send(
        {"action": "sendMessage", "messageId": "x1", "content": "hi", "sessionId": "someone-else"}
    )
    error = await client.expect("error")
    assert (error["code"], error["messageId"], error["retryable"]) == (
        "SESSION_MISMATCH",
        "x1",
        False,
    )
    assert stored(gateway, session["sessionId"]) == []
    await client.send(
        {
            "action": "sendMessage",
            "messageId": "x2",
            "content": "hi",
            "sessionId": session["sessionId"],
        }
    )
    assert (await client.until_final("x2"))[-1]["type"] == "message"


# --- bad frames: an error each, and the connection and data survive -------------------------

BAD_FRAMES = [
    ("not json", "INVALID_MESSAGE"),
    ("[1, 2]", "INVALID_MESSAGE"),
    ('{"content": "no action"}', "INVALID_MESSAGE"),
    ('{"action": 42}', "INVALID_MESSAGE"),
    ('{"action": "dance"}', "UNKNOWN_ACTION"),
    ('{"action": "sendMessage", "messageId": "bad id!", "content": "x"}', "INVALID_MESSAGE"),
    (
        '{"action": "sendMessage", "messageId": "' + "a" * 65 + '", "content": "x"}',
        "INVALID_MESSAGE",
    ),
    ('{"action": "sendMessage", "messageId": "e1", "content": "   "}', "INVALID_MESSAGE"),
    ('{"action": "sendMessage", "messageId": "e2"}', "INVALID_MESSAGE"),
    ('{"action": "sendMessage", "messageId": "e3", "content": 7}', "INVALID_MESSAGE"),
    (
        '{"action": "sendMessage", "messageId": "e4", "content": "x", "timestamp": "yesterday"}',
        "INVALID_MESSAGE",
    ),
    (
        '{"action": "sendMessage", "messageId": "e5", "content": "x", "messageType": "system"}',
        "INVALID_MESSAGE",
    ),
    ('{"action": "getHistory", "limit": "5"}', "INVALID_MESSAGE"),
    ('{"action": "getHistory", "limit": 0}', "INVALID_MESSAGE"),
    ('{"action": "getHistory", "limit": 101}', "INVALID_MESSAGE"),
    ('{"action": "getHistory", "before": "never-sent"}', "INVALID_MESSAGE"),
    ('{"action": "feedback", "messageId": "e6", "rating": "meh"}', "INVALID_MESSAGE"),
    ('{"action": "feedback", "messageId": "unanswered", "rating": "up"}', "INVALID_MESSAGE"),
    (
        '{"action": "feedback", "messageId": "e7", "rating": "up", "comment": "'
        + "c" * 1001
        + '"}',
        "INVALID_MESSAGE",
    ),
    (
        json.dumps({"action": "sendMessage", "messageId": "big", "content": "x" * 8001}),
        "MESSAGE_TOO_LARGE",
    ),
    (
        json.dumps({"action": "sendMessage", "messageId": "huge", "content": "y" * 200_000}),
        "MESSAGE_TOO_LARGE",
    ),
    (b"\xff\xfe binary", "INVALID_MESSAGE"),
]


@pytest.mark.parametrize(
    ("frame", "code"), BAD_FRAMES, ids=[f"{c}-{i}" for i, (_, c) in enumerate(BAD_FRAMES)]
)
async def test_a_bad_frame_gets_an_error_and_the_connection_and_history_survive(
    client: ChatClient, gateway: LocalGateway, frame: str | bytes, code: str
) -> None:
    session = await client.session()
    await client.ask("kept", "a message that must survive")
    before = stored(gateway, session["sessionId"])
    await client.send(frame)
    error = await client.expect("error")
    assert error["code"] == code
    assert error["retryable"] is False
    assert error["message"] and "Traceback" not in error["message"]
    await client.ping()
    assert stored(gateway, session["sessionId"]) == before
    # Analysts see it: one error event for the session, with the code and where it was refused.
    assert gateway.runtime is not None
    today = before[0].timestamp[:10]
    partition = type_partition("error", today, session["sessionId"])
    page = gateway.runtime.tables.analytics.query(partition, index="byType", ascending=True)
    refusals = [item["details"] for item in page.items if item["sessionId"] == session["sessionId"]]
    assert refusals == [{"code": code, "stage": "frame"}]


async def test_an_error_names_the_message_it_is_about(client: ChatClient) -> None:
    await client.session()
    await client.send(
        json.dumps({"action": "sendMessage", "messageId": "named", "content": "z" * 9000})
    )
    error = await client.expect("error")
    assert (error["code"], error["messageId"]) == ("MESSAGE_TOO_LARGE", "named")


async def test_ping_answers_pong(client: ChatClient) -> None:
    await client.send({"action": "ping"})
    assert await client.recv() == {"type": "pong"}


# --- history and feedback --------------------------------------------------------------------


async def test_history_is_oldest_first_and_pages_with_limit_and_before(client: ChatClient) -> None:
    await client.session()
    for n in range(4):
        await client.ask(f"h{n}", f"question {n}")
    await client.send({"action": "getHistory", "limit": 3})
    latest = await client.expect("history")
    # Whole turns only: h2's answer waits for the next page with its question.
    assert [(m["messageId"], m["role"]) for m in latest["messages"]] == [
        ("h3", "user"),
        ("h3", "assistant"),
    ]
    assert latest["hasMore"] is True
    await client.send({"action": "getHistory", "limit": 100, "before": "h3"})
    older = await client.expect("history")
    assert [m["messageId"] for m in older["messages"]] == ["h0", "h0", "h1", "h1", "h2", "h2"]
    assert older["hasMore"] is False
    assert older["messages"][1]["queryType"] == "general"
    assert older["messages"][0]["status"] == "answered"
    assert "queryType" not in older["messages"][0]


async def test_feedback_on_an_answer_is_stored_and_acknowledged(
    client: ChatClient, gateway: LocalGateway
) -> None:
    session = await client.session()
    await client.ask("fb", "rate me")
    await client.send(
        {"action": "feedback", "messageId": "fb", "rating": "down", "comment": "too long"}
    )
    ack = await client.expect("ack")
    assert ack["messageId"] == "fb"
    assert gateway.runtime is not None
    answer = gateway.runtime.conversations.get(session["sessionId"], "fb", "assistant")
    assert answer is not None and answer.feedback is not None
    assert (answer.feedback["rating"], answer.feedback["comment"]) == ("down", "too long")


# --- load ------------------------------------------------------------------------------------


async def test_fifty_concurrent_clients_are_all_answered(
    connect: Any, gateway: LocalGateway
) -> None:
    async def converse(n: int) -> tuple[str, str]:
        client = await connect()
        session = await client.session()
        frames = await client.ask(f"c{n}", f"Hello, client {n} here")
        return session["sessionId"], frames[-1]["content"]

    results = await asyncio.gather(*(converse(n) for n in range(50)))
    assert len({session_id for session_id, _ in results}) == 50
    for n, (session_id, content) in enumerate(results):
        assert f'"Hello, client {n} here"' in content
        assert len(stored(gateway, session_id)) == 2


# --- the web page is served on the same port ---------------------------------------------------


async def test_the_web_page_and_nothing_outside_it_is_served_over_http(
    gateway: LocalGateway,
) -> None:
    async def get(path: str) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        return int(lines[0].split()[1]), headers, body

    status, headers, body = await get("/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"<html" in body.lower()
    assert (await get("/../pyproject.toml"))[0] == 404
    assert (await get("/%2e%2e/pyproject.toml"))[0] == 404
    assert (await get("/nope.js"))[0] == 404
