"""Every answer ends: whatever fails after the ack (the store, the model, a tool, the sender),
the client gets a final ``message`` or ``error`` for the messageId, and the question is stored
``answered`` or ``failed``, or its lease lapses so that the user's resend answers it once.

The chat service and the engine run on the SQLite file of ``chatbot serve``; the clock is the
test's, so leases lapse when the test moves it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import AsyncIterable, Callable
from typing import Any

import pytest
from mcp import StdioServerParameters, stdio_client
from strands.tools.mcp import MCPClient

from chatbot.config import Settings
from chatbot.engine.engine import ChatbotEngine
from chatbot.engine.factory import build_engine
from chatbot.ports import EngineRequest
from chatbot.records import QueryType
from chatbot.runtime import Runtime, build_chat_service, runtime_from_settings
from chatbot.tables import Table
from tests.conftest import FakeClock, PartialFailure, ScriptedModel, scripted
from tests.unit.conftest import RecordingInvoker, RecordingSender

# ANSWER_LEASE_SECONDS's default.
LEASE_SECONDS = 15
LONG_ANSWER = " ".join(f"word{n}" for n in range(60))


class HookedModel(ScriptedModel):
    """A scripted model that calls ``on_delta(n)`` before streaming its n-th text fragment."""

    def __init__(self, *args: Any, on_delta: Callable[[int], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_delta = on_delta

    async def stream(self, messages: Any, *args: Any, **kwargs: Any) -> AsyncIterable[Any]:
        count = 0
        async for event in super().stream(messages, *args, **kwargs):
            if "contentBlockDelta" in event:
                count += 1
                self.on_delta(count)
            yield event


class Chat:
    """One client on conn-1: the chat service in front, the engine run as the invoker asks."""

    def __init__(self, runtime: Runtime, model: ScriptedModel, **engine: Any) -> None:
        self.runtime = runtime
        self.sender, self.invoker = RecordingSender(), RecordingInvoker()
        self.service = build_chat_service(runtime, self.sender, self.invoker)
        self.engine: ChatbotEngine = build_engine(
            runtime, self.sender, model_for=scripted(model), router=None, **engine
        )
        result = self.service.connect("conn-1", {})
        assert result.session_id is not None
        self.session_id = result.session_id

    def send(self, message_id: str, content: str, connection: str = "conn-1") -> None:
        frame = {"action": "sendMessage", "messageId": message_id, "content": content}
        self.service.handle_frame(connection, json.dumps(frame))

    def run_engine(self, index: int = -1) -> None:
        asyncio.run(self.engine.process_message(self.invoker.requests[index]))

    def frames(self, message_id: str | None = None) -> list[dict[str, Any]]:
        frames = [json.loads(data) for _, data in self.sender.posted]
        return [f for f in frames if message_id is None or f.get("messageId") == message_id]

    def finals(self, message_id: str) -> list[dict[str, Any]]:
        return [f for f in self.frames(message_id) if f["type"] in ("message", "error")]

    def stored(self) -> list[tuple[str, str | None]]:
        records = self.runtime.conversations.history(self.session_id, limit=10)
        return [(r.messageType, r.status) for r in records]


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Runtime:
    runtime = runtime_from_settings(settings, clock)
    # SQLite waits 5 s for a lock before it fails; a locked store fails in 50 ms here.
    with runtime.tables.conversations._connection.writing() as connection:  # type: ignore[attr-defined]
        connection.execute("PRAGMA busy_timeout = 50")
    return runtime


class WriteLock:
    """Another process's write transaction on the state file: every write waits, then fails."""

    def __init__(self, settings: Settings) -> None:
        self._connection = sqlite3.connect(settings.sqlite_path, isolation_level=None)
        self.held = False

    def acquire(self) -> None:
        if not self.held:
            self._connection.execute("BEGIN IMMEDIATE")
            self.held = True

    def release(self) -> None:
        if self.held:
            self._connection.execute("ROLLBACK")
            self.held = False


def test_a_store_locked_mid_answer_still_ends_the_answer_and_the_resend_after_the_lease_answers(
    runtime: Runtime, settings: Settings, clock: FakeClock
) -> None:
    # Found 6: the client got its ack and deltas, then neither a message nor an error.
    lock = WriteLock(settings)
    model = HookedModel(
        [LONG_ANSWER],
        default="Answered once the store is back.",
        words_per_fragment=1,
        on_delta=lambda n: lock.acquire() if n == 30 else None,
    )
    chat = Chat(runtime, model)
    chat.send("m1", "Tell me a long story")
    chat.run_engine()
    lock.release()

    frames = chat.frames("m1")
    assert frames[0]["type"] == "ack" and frames[1]["type"] == "delta"
    [final] = chat.finals("m1")
    assert (final["type"], final["code"], final["retryable"]) == ("error", "INTERNAL_ERROR", True)
    # Nothing could be written: the question is pending only until its lease lapses.
    question = runtime.conversations.get(chat.session_id, "m1", "user")
    assert question is not None and question.status == "pending"
    assert runtime.conversations.lease_lapsed(question) is False
    clock.advance(seconds=settings.answer_lease_seconds)
    assert runtime.conversations.lease_lapsed(question)

    chat.send("m1", "Tell me a long story")
    chat.send("m1", "Tell me a long story")  # a second resend: the first one's attempt holds
    assert len(chat.invoker.requests) == 2
    chat.run_engine()
    finals = chat.finals("m1")
    assert [f["type"] for f in finals] == ["error", "message"]
    assert finals[-1]["content"] == "Answered once the store is back."
    assert chat.stored() == [("user", "answered"), ("assistant", None)]


def test_a_store_locked_while_the_answer_is_saved_then_freed_marks_the_question_failed(
    runtime: Runtime, settings: Settings
) -> None:
    lock = WriteLock(settings)
    model = HookedModel(["A short answer."], on_delta=lambda n: lock.acquire())

    class ReleasingTable:
        """The conversations table; the lock is freed once the answer's write has failed."""

        def __init__(self, inner: Table) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def put(self, item: Any, **kwargs: Any) -> None:
            try:
                self._inner.put(item, **kwargs)
            finally:
                lock.release()

    runtime.conversations._table = ReleasingTable(runtime.conversations._table)  # type: ignore[assignment]
    chat = Chat(runtime, model)
    chat.send("m1", "hello there")
    chat.run_engine()

    [final] = chat.finals("m1")
    assert (final["type"], final["code"]) == ("error", "INTERNAL_ERROR")
    assert chat.stored() == [("user", "failed")]


class FullTable:
    """The conversations table on a full disk: the answer's write fails as SQLite's does."""

    def __init__(self, inner: Table) -> None:
        self._inner = inner
        self.full = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, item: Any, **kwargs: Any) -> None:
        if self.full and item.get("messageType") == "assistant":
            raise sqlite3.OperationalError("database or disk is full")
        self._inner.put(item, **kwargs)


def test_a_full_disk_mid_answer_sends_a_retryable_error_marks_it_failed_and_a_resend_answers(
    runtime: Runtime,
) -> None:
    table = FullTable(runtime.conversations._table)
    runtime.conversations._table = table  # type: ignore[assignment]
    table.full = True
    chat = Chat(runtime, ScriptedModel(default="Room again."))
    chat.send("m1", "hello there")
    chat.run_engine()
    [final] = chat.finals("m1")
    assert (final["type"], final["code"], final["retryable"]) == ("error", "INTERNAL_ERROR", True)
    assert "disk" not in final["message"]
    assert chat.stored() == [("user", "failed")]

    table.full = False
    chat.send("m1", "hello there")  # failed: the resend retries at once
    chat.run_engine()
    assert chat.finals("m1")[-1]["content"] == "Room again."
    assert chat.stored() == [("user", "answered"), ("assistant", None)]


def test_a_client_gone_mid_stream_gets_the_stored_answer_on_resume(runtime: Runtime) -> None:
    chat = Chat(runtime, ScriptedModel())
    token = chat.runtime.tokens.issue(chat.session_id)
    model = HookedModel([LONG_ANSWER], on_delta=lambda n: chat.sender.gone.add("conn-1"))
    chat.engine = build_engine(runtime, chat.sender, model_for=scripted(model), router=None)
    chat.send("m1", "Tell me a long story")
    chat.run_engine()  # GoneException on the first delta: the client closed the tab

    assert chat.finals("m1") == []
    assert chat.stored() == [("user", "answered"), ("assistant", None)]
    resumed = chat.service.connect("conn-2", {"sessionId": chat.session_id, "sessionToken": token})
    assert resumed.session_id == chat.session_id
    chat.service.handle_frame("conn-2", json.dumps({"action": "getHistory"}))
    history = chat.frames()[-1]
    assert history["type"] == "history"
    assert [m["content"] for m in history["messages"]][-1] == LONG_ANSWER
    chat.send("m1", "Tell me a long story", connection="conn-2")
    assert chat.frames()[-1]["content"] == LONG_ANSWER
    assert len(chat.invoker.requests) == 1


class FailingSender(RecordingSender):
    """A sender whose posts fail (not GoneException: a throttled or timed-out post)."""

    def post(self, connection_id: str, data: str) -> None:
        if json.loads(data)["type"] in ("delta", "message"):
            raise TimeoutError("@connections timed out")
        super().post(connection_id, data)


def test_a_sender_that_fails_mid_answer_still_stores_the_answer_for_the_resend(
    runtime: Runtime,
) -> None:
    chat = Chat(runtime, ScriptedModel())
    failing = FailingSender()
    model = ScriptedModel(default="Stored all the same.")
    engine = build_engine(runtime, failing, model_for=scripted(model), router=None)
    chat.send("m1", "hello there")
    asyncio.run(engine.process_message(chat.invoker.requests[-1]))
    assert chat.stored() == [("user", "answered"), ("assistant", None)]
    chat.send("m1", "hello there")  # the client's resend, once its connection works again
    assert chat.finals("m1")[-1]["content"] == "Stored all the same."
    assert len(model.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [TimeoutError("read timed out"), PartialFailure("Half an answer and", TimeoutError("timed"))],
    ids=["before-any-text", "mid-stream"],
)
def test_a_model_that_times_out_ends_the_answer_with_a_retryable_error(
    runtime: Runtime, failure: BaseException | PartialFailure
) -> None:
    model = ScriptedModel([failure] * 4, default="Back in time.")
    chat = Chat(runtime, model)
    chat.send("m1", "hello there")
    chat.run_engine()
    [final] = chat.finals("m1")
    assert (final["type"], final["code"], final["retryable"]) == (
        "error",
        "MODEL_UNAVAILABLE",
        True,
    )
    assert chat.stored() == [("user", "failed")]


def test_an_mcp_server_that_is_down_ends_a_tools_question_with_a_tool_error(
    runtime: Runtime,
) -> None:
    def down(query_type: QueryType, session_id: str) -> list[Any]:
        # A server that exits at once, as one that crashed or cannot start.
        parameters = StdioServerParameters(
            command=sys.executable, args=["-c", "raise SystemExit(1)"]
        )
        return [MCPClient(lambda: stdio_client(parameters), startup_timeout=5)]

    chat = Chat(runtime, ScriptedModel(), tools_for=down)
    chat.send("m1", "create a record titled Groceries")
    chat.run_engine()
    [final] = chat.finals("m1")
    assert (final["type"], final["code"]) == ("error", "MCP_TOOL_ERROR")
    assert chat.stored() == [("user", "failed")]


def test_a_duplicated_engine_delivery_in_flight_answers_once(runtime: Runtime) -> None:
    model = ScriptedModel(default="Only one answer.", pause=0.01)
    chat = Chat(runtime, model)
    chat.send("m1", "hello there")
    [request] = chat.invoker.requests

    async def twice(request: EngineRequest) -> list[Any]:
        return list(
            await asyncio.gather(
                chat.engine.process_message(request), chat.engine.process_message(request)
            )
        )

    results = asyncio.run(twice(request))
    assert sum(result is not None for result in results) == 1
    assert len(model.calls) == 1
    assert [f["type"] for f in chat.finals("m1")] == ["message"]
    deltas = [f["index"] for f in chat.frames("m1") if f["type"] == "delta"]
    assert deltas == list(range(len(deltas)))
    assert chat.stored() == [("user", "answered"), ("assistant", None)]


def test_a_crashed_engine_is_retried_by_a_resend_once_its_lease_lapses(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Found 7: a resend within ANSWER_TIMEOUT_SECONDS (360) got only `ack duplicate`.
    model = ScriptedModel(default="Answered after the crash.")
    chat = Chat(runtime, model)
    chat.send("m1", "hello there")
    # The engine was invoked and died (kill -9) before it wrote anything.
    clock.advance(seconds=LEASE_SECONDS - 1)
    chat.send("m1", "hello there")
    assert len(chat.invoker.requests) == 1  # its lease still holds
    clock.advance(seconds=1)
    chat.send("m1", "hello there")
    assert len(chat.invoker.requests) == 2
    chat.run_engine()
    chat.run_engine(0)  # the first invocation, redelivered late: nothing new
    finals = chat.finals("m1")
    assert [f["type"] for f in finals] == ["message", "message"]
    assert {f["content"] for f in finals} == {"Answered after the crash."}
    assert len(model.calls) == 1
    assert chat.stored() == [("user", "answered"), ("assistant", None)]
    assert [f.get("duplicate", False) for f in chat.frames("m1") if f["type"] == "ack"] == [
        False,
        True,
        True,
    ]


class ClockedModel(ScriptedModel):
    """A model that takes ``seconds`` of the test's clock per fragment."""

    def __init__(self, clock: FakeClock, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock, self.seconds = clock, seconds
        self.on_fragment: Callable[[], None] = lambda: None

    async def stream(self, messages: Any, *args: Any, **kwargs: Any) -> AsyncIterable[Any]:
        async for event in super().stream(messages, *args, **kwargs):
            if "contentBlockDelta" in event:
                self.clock.advance(seconds=self.seconds)
                self.on_fragment()
            yield event


def test_an_answer_longer_than_the_lease_keeps_it_and_a_resend_meanwhile_does_not_retry(
    runtime: Runtime, clock: FakeClock
) -> None:
    model = ClockedModel(clock, 3.0, default=LONG_ANSWER, words_per_fragment=1)
    chat = Chat(runtime, model)
    model.on_fragment = lambda: chat.send("m1", "Tell me a long story")
    chat.send("m1", "Tell me a long story")
    chat.run_engine()  # 180 s of the clock, a resend at every fragment

    assert len(chat.invoker.requests) == 1
    assert [f["type"] for f in chat.finals("m1")] == ["message"]
    assert chat.stored() == [("user", "answered"), ("assistant", None)]
