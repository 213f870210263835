"""The chatbot engine: route a stored message, stream and store the answer, record analytics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from strands import Agent
from strands.hooks import AfterToolCallEvent, BeforeToolCallEvent
from strands.models.model import Model
from strands.types.content import Message, Messages
from strands.types.exceptions import MCPClientInitializationError, ToolProviderException

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.documents import DocumentSearch
from chatbot.engine.offline_model import split_into_deltas
from chatbot.engine.rag import NOTHING_FOUND, citations, grounded_prompt, sources_of
from chatbot.engine.router import determine_query_type
from chatbot.errors import (
    ChatbotError,
    InternalError,
    MCPToolError,
    ModelUnavailableError,
    as_chatbot_error,
)
from chatbot.ports import ConnectionGoneError, ConnectionSender, EngineRequest
from chatbot.protocol import DeltaFrame, ErrorFrame, MessageFrame, ServerFrame
from chatbot.records import ConversationRecord, DocumentChunk, QueryType, Usage, iso, utc_now

logger = Logger(service="chatbot", child=True)

ModelFactory = Callable[[QueryType], Model]

SYSTEM_PROMPTS: dict[QueryType, str] = {
    QueryType.GENERAL: (
        "You are a helpful assistant in a web chat. Answer clearly and concisely, using the "
        "conversation so far as context. If a question is unclear, ask one clarifying question."
    ),
    QueryType.RAG: (
        "You answer questions from the user's documents. Use only the numbered sources given, "
        "cite them as [n], and say plainly when they do not contain the answer."
    ),
    QueryType.MCP_TOOL: (
        "You help the user search documents and manage records with the tools provided. Call "
        "the tool that fits, then report what it returned. Never invent tool results."
    ),
}


class _DeltaStream:
    """Posts answer fragments as numbered ``delta`` frames, until the client goes away."""

    def __init__(self, sender: ConnectionSender, connection_id: str, message_id: str) -> None:
        self._sender = sender
        self._connection_id = connection_id
        self._message_id = message_id
        self.parts: list[str] = []
        self.client_gone = False

    def push(self, fragment: str) -> None:
        index = len(self.parts)
        self.parts.append(fragment)
        if self.client_gone:
            return
        frame = DeltaFrame(messageId=self._message_id, index=index, content=fragment)
        try:
            self._sender.post(self._connection_id, frame.to_json())
        except ConnectionGoneError:
            # The answer is still stored: the client gets it from history or by resending.
            self.client_gone = True


class _ToolUsageRecorder:
    """Records a ``tool_usage`` event for every tool call the agent makes."""

    def __init__(self, analytics: AnalyticsRecorder, session_id: str) -> None:
        self._analytics = analytics
        self._session_id = session_id
        self._started: dict[str, float] = {}
        self.tools_used: list[str] = []

    def before(self, event: BeforeToolCallEvent) -> None:
        self._started[event.tool_use["toolUseId"]] = time.perf_counter()

    def after(self, event: AfterToolCallEvent) -> None:
        tool_use_id = event.tool_use["toolUseId"]
        started = self._started.pop(tool_use_id, time.perf_counter())
        name = event.tool_use["name"]
        success = event.exception is None and event.result.get("status") == "success"
        if name not in self.tools_used:
            self.tools_used.append(name)
        self._analytics.record(
            "tool_usage",
            self._session_id,
            {
                "tool": name,
                "success": success,
                "latencyMs": round((time.perf_counter() - started) * 1000),
            },
        )


class ChatbotEngine:
    def __init__(
        self,
        *,
        conversations: ConversationStore,
        analytics: AnalyticsRecorder,
        sender: ConnectionSender,
        model_for: ModelFactory,
        history_turns: int,
        tools_for: Callable[[QueryType, str], list[Any]] | None = None,
        connections_of: Callable[[str], list[str]] | None = None,
        documents: DocumentSearch | None = None,
        rag_top_k: int = 5,
    ) -> None:
        self._conversations = conversations
        self._analytics = analytics
        self._sender = sender
        self._model_for = model_for
        self._history_turns = history_turns
        self._tools_for = tools_for
        self._connections_of = connections_of
        self._documents = documents
        self._rag_top_k = rag_top_k

    def determine_query_type(self, message: str) -> QueryType:
        return determine_query_type(message)

    async def process_message(self, request: EngineRequest) -> ConversationRecord | None:
        """Answer one stored user message. Safe to run twice: the answer is made only once."""
        session_id, message_id = request.sessionId, request.messageId
        user_message = self._conversations.get(session_id, message_id, "user")
        if user_message is None:
            logger.warning("no stored message to answer", extra={"messageId": message_id})
            return None
        answered = self._conversations.get(session_id, message_id, "assistant")
        if answered is not None:
            self._deliver(request, MessageFrame.from_record(answered))
            return answered
        started = time.perf_counter()
        query_type = self.determine_query_type(user_message.content)
        try:
            answer = await self._answer(request, user_message, query_type, started)
        except Exception as error:
            failure = as_chatbot_error(error)
            logger.warning(
                "answer failed",
                extra={"messageId": message_id, "code": failure.code.value, "detail": str(error)},
            )
            self._conversations.set_status(session_id, message_id, "failed")
            self._deliver(request, ErrorFrame.from_error(failure, message_id))
            self._analytics.record(
                "error", session_id, {"code": failure.code.value, "queryType": query_type.value}
            )
            return None
        self._analytics.record(
            "query",
            session_id,
            {
                "queryType": query_type.value,
                "latencyMs": answer.responseTime,
                "inputTokens": answer.usage.inputTokens if answer.usage else 0,
                "outputTokens": answer.usage.outputTokens if answer.usage else 0,
                "toolsUsed": answer.toolsUsed or [],
            },
        )
        return answer

    async def _answer(
        self,
        request: EngineRequest,
        user_message: ConversationRecord,
        query_type: QueryType,
        started: float,
    ) -> ConversationRecord:
        tool_usage = _ToolUsageRecorder(self._analytics, request.sessionId)
        stream = _DeltaStream(self._sender, request.connectionId, request.messageId)
        usage = Usage()
        final_text = ""
        chunks = self._retrieve(user_message.content) if query_type is QueryType.RAG else []
        if query_type is QueryType.RAG and not chunks:
            # Nothing relevant: say so plainly instead of letting a model improvise.
            for fragment in split_into_deltas(NOTHING_FOUND):
                stream.push(fragment)
        else:
            prompt = (
                grounded_prompt(user_message.content, chunks) if chunks else user_message.content
            )
            usage, final_text = await self._run_agent(
                request, user_message, query_type, prompt, stream, tool_usage
            )
        if not stream.parts and final_text:
            stream.push(final_text)
        content = "".join(stream.parts)
        latency_ms = round((time.perf_counter() - started) * 1000)
        answer = self._conversations.save_answer(
            ConversationRecord(
                sessionId=request.sessionId,
                recordId=ConversationRecord.record_id(request.messageId, "assistant"),
                messageId=request.messageId,
                timestamp=iso(utc_now()),
                messageType="assistant",
                content=content,
                queryType=query_type,
                sources=sources_of(chunks),
                toolsUsed=tool_usage.tools_used,
                citations=citations(chunks) or None,
                usage=usage.model_copy(update={"latencyMs": latency_ms}),
                responseTime=latency_ms,
            )
        )
        self._conversations.set_status(request.sessionId, request.messageId, "answered")
        self._deliver(request, MessageFrame.from_record(answer))
        return answer

    async def _run_agent(
        self,
        request: EngineRequest,
        user_message: ConversationRecord,
        query_type: QueryType,
        prompt: str,
        stream: _DeltaStream,
        tool_usage: _ToolUsageRecorder,
    ) -> tuple[Usage, str]:
        """Stream the agent's answer to ``prompt`` into ``stream``; its usage and final text."""
        usage = Usage()
        final_text = ""
        # Building the model and tool clients is configuration: a failure there is ours.
        model = self._model_for(query_type)
        tools = self._tools_for(query_type, request.sessionId) if self._tools_for else None
        agent: Agent | None = None
        try:
            # Starting MCP clients happens here; their failure becomes MCP_TOOL_ERROR.
            agent = Agent(
                model=model,
                system_prompt=SYSTEM_PROMPTS[query_type],
                messages=self._context(user_message),
                tools=tools,
                callback_handler=None,
            )
            agent.add_hook(tool_usage.before, BeforeToolCallEvent)
            agent.add_hook(tool_usage.after, AfterToolCallEvent)
            async for event in agent.stream_async(prompt):
                fragment = event.get("data")
                if isinstance(fragment, str) and fragment:
                    stream.push(fragment)
                result = event.get("result")
                if result is not None:
                    final_text = str(result).strip()
                    accumulated = result.metrics.accumulated_usage
                    usage = Usage(
                        inputTokens=int(accumulated.get("inputTokens", 0)),
                        outputTokens=int(accumulated.get("outputTokens", 0)),
                    )
        except ChatbotError:
            raise
        except Exception as error:
            raise _as_answer_error(error) from error
        finally:
            if agent is not None:
                # Stops the tool providers (MCP clients) this answer started.
                agent.cleanup()
        return usage, final_text

    def _retrieve(self, question: str) -> list[DocumentChunk]:
        """The chunks that may ground an answer; the index applies its relevance threshold."""
        if self._documents is None:
            return []
        return self._documents.search(question, limit=self._rag_top_k)

    def _context(self, current: ConversationRecord) -> Messages:
        """Earlier answered turns of the session, oldest first, as alternating messages."""
        if self._history_turns == 0:
            return []
        records = self._conversations.history(current.sessionId, limit=2 * self._history_turns + 1)
        answers = {r.messageId: r for r in records if r.messageType == "assistant"}
        messages: Messages = []
        for record in records:
            if record.messageType != "user" or record.messageId == current.messageId:
                continue
            answer = answers.get(record.messageId)
            if answer is None:
                continue  # unanswered (failed or in flight): would break the turn order
            messages.append(_message("user", record.content))
            messages.append(_message("assistant", answer.content))
        return messages

    def _deliver(self, request: EngineRequest, frame: ServerFrame) -> None:
        """Send the final frame to the asking connection or, if the client reconnected while
        the answer was written, to the session's newest connection."""
        data = frame.to_json()
        try:
            self._sender.post(request.connectionId, data)
            return
        except ConnectionGoneError:
            pass
        others = self._connections_of(request.sessionId) if self._connections_of else []
        for connection_id in others:
            if connection_id == request.connectionId:
                continue
            try:
                self._sender.post(connection_id, data)
                return
            except ConnectionGoneError:
                continue
        logger.info("client left before the answer", extra={"messageId": request.messageId})


def _message(role: str, text: str) -> Message:
    return {"role": role, "content": [{"text": text}]}  # type: ignore[typeddict-item]


def _as_answer_error(error: BaseException) -> ChatbotError:
    """Failures while the agent runs: our own errors keep their code; the rest is the model's."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ChatbotError):
            return cause
        if isinstance(cause, MCPClientInitializationError | ToolProviderException):
            return MCPToolError("mcp", f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    if isinstance(error, Exception):
        return ModelUnavailableError(f"{type(error).__name__}: {error}")
    return InternalError(repr(error))
