"""The chatbot engine: route a stored message, stream and store the answer, record analytics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from strands import Agent
from strands.hooks import AfterToolCallEvent, BeforeToolCallEvent
from strands.models.model import Model

from chatbot.analytics import AnalyticsRecorder
from chatbot.clock import Clock
from chatbot.conversations import ConversationStore
from chatbot.documents import DocumentSearch
from chatbot.engine.budget import TokenBudget
from chatbot.engine.cancel import CancelWatch
from chatbot.engine.clarify import CLARIFYING_QUESTION, is_unclear
from chatbot.engine.context import Context, Turn, fit_to_budget
from chatbot.engine.delivery import FinalFrameDelivery
from chatbot.engine.failures import FailureReporter, as_answer_error
from chatbot.engine.grounding import Grounding, check_grounding
from chatbot.engine.lease import AnswerLeaseKeeper, LeaseLostError
from chatbot.engine.offline_model import split_into_deltas
from chatbot.engine.pricing import FREE, Price
from chatbot.engine.rag import (
    NOTHING_FOUND,
    citations,
    grounded_prompt,
    is_follow_up,
    search_query,
    sources_of,
)
from chatbot.engine.retry import DeadlineRetryStrategy, RetryPolicy
from chatbot.engine.router import determine_query_type
from chatbot.engine.semantic_router import QueryRouter, RouteDecision
from chatbot.engine.streaming import DeltaStream, StreamingPolicy
from chatbot.engine.tool_usage import ToolUsageRecorder
from chatbot.errors import ChatbotError
from chatbot.ports import ConnectionSender, EngineRequest
from chatbot.records import ConversationRecord, DocumentChunk, QueryType, Usage, iso
from chatbot.server_frames import MessageFrame

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


@dataclass(frozen=True)
class AnswerPolicy:
    """How answers are made: context, streaming, retries, and what an answer costs."""

    # Most earlier turns read, then cut to the token budget (oldest dropped first).
    history_turns: int = 20
    context_token_budget: int = 3000
    rag_top_k: int = 5
    streaming: StreamingPolicy = field(default_factory=StreamingPolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    model_id: str = "offline"
    price: Price = FREE
    # Seconds an answer may take when the caller sets no deadline (the engine function's
    # timeout in AWS is 300 s; its handler passes the time Lambda says is left).
    answer_seconds: float = 280.0
    # Whether logs may carry what users wrote.
    log_user_content: bool = False


class ChatbotEngine:
    def __init__(
        self,
        *,
        conversations: ConversationStore,
        analytics: AnalyticsRecorder,
        sender: ConnectionSender,
        model_for: ModelFactory,
        policy: AnswerPolicy | None = None,
        tools_for: Callable[[QueryType, str], list[Any]] | None = None,
        connections_of: Callable[[str], list[str]] | None = None,
        documents: DocumentSearch | None = None,
        router: QueryRouter | None = None,
        budget: TokenBudget | None = None,
        clock: Clock,
    ) -> None:
        self._clock = clock
        # The daily token budgets, checked before the model is called (None: unbounded).
        self._budget = budget
        self._conversations = conversations
        self._analytics = analytics
        self._sender = sender
        self._model_for = model_for
        self._policy = policy or AnswerPolicy()
        self._tools_for = tools_for
        self._delivery = FinalFrameDelivery(sender, connections_of)
        self._failures = FailureReporter(
            conversations,
            analytics,
            self._delivery,
            log_user_content=self._policy.log_user_content,
        )
        self._documents = documents
        # None: the keyword rules route (what the unit tests use: no embedding model needed).
        self._router = router

    @property
    def policy(self) -> AnswerPolicy:
        return self._policy

    @property
    def clock(self) -> Clock:
        return self._clock

    def warm(self) -> None:
        """Load what the first question would otherwise wait for: the router's embedding
        model and its example vectors. Blocking; call it from a worker thread."""
        if self._router is not None:
            self._router.warm()

    async def determine_query_type(self, message: str) -> RouteDecision:
        """The path for ``message``: the semantic router's, or the keyword rules' without one."""
        if self._router is None:
            return RouteDecision(determine_query_type(message), "rules")
        return await self._router.route(message)

    async def _route(self, message: str, context: Context) -> RouteDecision:
        """The path for ``message``. A short follow-up to a question answered from the
        documents stays on the documents path unless it plainly asks for a tool: on its own
        ("and how do I change that?") it says too little for the router to judge."""
        if (
            context.last_query_type is QueryType.RAG
            and is_follow_up(message)
            and determine_query_type(message) is not QueryType.MCP_TOOL
        ):
            return RouteDecision(QueryType.RAG, "follow-up")
        return await self.determine_query_type(message)

    async def process_message(
        self, request: EngineRequest, *, deadline: float | None = None
    ) -> ConversationRecord | None:
        """Answer one stored user message. Safe to run twice: the answer is made only once.

        ``deadline`` (seconds on the clock's ``monotonic()``) is when the answer must be done:
        model retries stop in time to report ``MODEL_UNAVAILABLE`` before it. Whatever fails
        (the store, the model, a tool, the sender), the client is sent the answer or an
        ``error`` for its messageId, and the question is marked answered or failed where the
        store allows; where it does not, the question's lease lapses and a resend retries.
        """
        session_id, message_id = request.sessionId, request.messageId
        lease = AnswerLeaseKeeper(
            self._conversations, session_id, message_id, uuid.uuid4().hex, self._clock
        )
        try:
            user_message = self._conversations.get(session_id, message_id, "user")
            if user_message is None:
                logger.warning("no stored message to answer", extra={"messageId": message_id})
                return None
            answered = self._conversations.get(session_id, message_id, "assistant")
            if answered is not None:
                self._delivery.deliver(request, MessageFrame.from_record(answered))
                return answered
            if not self._conversations.take_lease(session_id, message_id, lease.holder):
                # Failed (a resend retries it) or another run of the engine holds it: a
                # redelivered invocation while the first is still answering.
                logger.info("message not claimable", extra={"messageId": message_id})
                return None
        except Exception as error:
            self._failures.fail(request, error, holder=None)
            return None
        started = time.perf_counter()
        if deadline is None:
            deadline = self._clock.monotonic() + self._policy.answer_seconds
        if self._policy.log_user_content:
            logger.info(
                "question", extra={"messageId": message_id, "content": user_message.content}
            )
        lease.start_heartbeat()
        route: RouteDecision | None = None
        try:
            if self._budget is not None:
                # Before routing: the router may embed the question and ask the model.
                self._budget.check(session_id)
            context = self._context(user_message)
            route = await self._route(user_message.content, context)
            answer, grounding = await self._answer(
                request, user_message, route.query_type, context, lease, started, deadline
            )
        except LeaseLostError:
            return None
        except Exception as error:
            self._failures.fail(request, error, holder=lease.holder, route=route)
            return None
        finally:
            await lease.stop_heartbeat()
        usage = answer.usage or Usage()
        self._analytics.record(
            "query",
            session_id,
            {
                "queryType": route.query_type.value,
                "routedBy": route.method,
                "latencyMs": answer.responseTime,
                "inputTokens": usage.inputTokens,
                "outputTokens": usage.outputTokens,
                "costUsd": usage.costUsd,
                "model": self._policy.model_id,
                "toolsUsed": answer.toolsUsed or [],
                **({"stopped": True} if answer.stopped else {}),
                **grounding.analytics(),
            },
        )
        return answer

    async def _answer(
        self,
        request: EngineRequest,
        user_message: ConversationRecord,
        query_type: QueryType,
        context: Context,
        lease: AnswerLeaseKeeper,
        started: float,
        deadline: float,
    ) -> tuple[ConversationRecord, Grounding]:
        tool_usage = ToolUsageRecorder(self._analytics, request.sessionId)
        stream = DeltaStream(
            self._sender, request.connectionId, request.messageId, self._policy.streaming
        )
        cancel = CancelWatch(self._conversations, request.sessionId, request.messageId, self._clock)
        usage = Usage()
        final_text = ""
        chunks: list[DocumentChunk] = []
        if query_type is QueryType.RAG:
            chunks = self._retrieve(search_query(user_message.content, context.last_question))
        if query_type is QueryType.RAG and not chunks:
            # Nothing relevant: say so plainly instead of letting a model improvise.
            for fragment in split_into_deltas(NOTHING_FOUND):
                stream.push(fragment)
        elif is_unclear(user_message.content, has_history=context.last_question is not None):
            # Nothing to go on: ask, rather than have a model guess what was meant.
            chunks = []  # none was given to a model, so none is cited
            for fragment in split_into_deltas(CLARIFYING_QUESTION):
                stream.push(fragment)
        else:
            prompt = (
                grounded_prompt(user_message.content, chunks) if chunks else user_message.content
            )
            usage, final_text = await self._run_agent(
                request, query_type, prompt, context, stream, tool_usage, lease, deadline, cancel
            )
            if self._budget is not None:
                self._budget.charge(request.sessionId, request.messageId, usage)
        if not stream.text and final_text and not cancel.stopped:
            stream.push(final_text)
        stream.close()
        lease.check()  # a newer attempt that took over answers instead
        content = stream.text
        # Only what the answer cites is listed with it, by the number it cites.
        grounding = check_grounding(
            content, len(chunks), message_id=request.messageId, complete=not cancel.stopped
        )
        latency_ms = round((time.perf_counter() - started) * 1000)
        usage = usage.model_copy(
            update={
                "latencyMs": latency_ms,
                "costUsd": self._policy.price.cost(usage.inputTokens, usage.outputTokens),
            }
        )
        answer = self._conversations.save_answer(
            ConversationRecord(
                sessionId=request.sessionId,
                recordId=ConversationRecord.record_id(request.messageId, "assistant"),
                messageId=request.messageId,
                timestamp=iso(self._clock.now()),
                messageType="assistant",
                content=content,
                queryType=query_type,
                sources=sources_of(chunks, grounding.cited),
                toolsUsed=tool_usage.tools_used,
                tools=tool_usage.runs or None,
                citations=citations(chunks, grounding.cited, content) or None,
                usage=usage,
                responseTime=latency_ms,
                stopped=True if cancel.stopped else None,
            )
        )
        try:
            self._conversations.set_status(request.sessionId, request.messageId, "answered")
        except Exception as error:
            # The answer is stored: a resend or a redelivery finds it and sends it again.
            logger.warning(
                "answered status not recorded",
                extra={"messageId": request.messageId, "error": type(error).__name__},
            )
        self._delivery.deliver(request, MessageFrame.from_record(answer))
        return answer, grounding

    async def _run_agent(
        self,
        request: EngineRequest,
        query_type: QueryType,
        prompt: str,
        context: Context,
        stream: DeltaStream,
        tool_usage: ToolUsageRecorder,
        lease: AnswerLeaseKeeper,
        deadline: float,
        cancel: CancelWatch,
    ) -> tuple[Usage, str]:
        """Stream the agent's answer to ``prompt`` into ``stream``; its usage and final text."""
        usage = Usage()
        final_text = ""
        # Building the model and tool clients is configuration: a failure there is ours.
        model = self._model_for(query_type)
        tools = self._tools_for(query_type, request.sessionId) if self._tools_for else None
        system_prompt = SYSTEM_PROMPTS[query_type]
        if context.summary:
            system_prompt = f"{system_prompt}\n\n{context.summary}"
        # A retry after text reached the client would repeat that text: only before.
        retry = DeadlineRetryStrategy(
            self._policy.retry,
            deadline=deadline,
            may_retry=lambda: not stream.posted,
            clock=self._clock.monotonic,
        )
        agent: Agent | None = None
        try:
            # Starting MCP clients happens here; their failure becomes MCP_TOOL_ERROR.
            agent = Agent(
                model=model,
                system_prompt=system_prompt,
                messages=list(context.messages),
                tools=tools,
                callback_handler=None,
                retry_strategy=retry,
            )
            agent.add_hook(tool_usage.before, BeforeToolCallEvent)
            agent.add_hook(tool_usage.after, AfterToolCallEvent)
            async for event in agent.stream_async(prompt):
                lease.check()
                fragment = event.get("data")
                if isinstance(fragment, str) and fragment and not cancel.stopped:
                    if cancel.requested():
                        # Strands stops at its next safe point and ends the stream with a
                        # "cancelled" result; nothing it writes meanwhile is kept.
                        agent.cancel()
                    else:
                        stream.push(fragment)
                result = event.get("result")
                if result is not None:
                    final_text = str(result).strip()
                    accumulated = result.metrics.accumulated_usage
                    usage = Usage(
                        inputTokens=int(accumulated.get("inputTokens", 0)),
                        outputTokens=int(accumulated.get("outputTokens", 0)),
                    )
        except (ChatbotError, LeaseLostError):
            raise
        except Exception as error:
            raise as_answer_error(error) from error
        finally:
            if agent is not None:
                # Stops the tool providers (MCP clients) this answer started.
                agent.cleanup()
        return usage, final_text

    def _retrieve(self, query: str) -> list[DocumentChunk]:
        """The chunks that may ground an answer; the index applies its relevance threshold."""
        if self._documents is None:
            return []
        return self._documents.search(query, limit=self._policy.rag_top_k)

    def _context(self, current: ConversationRecord) -> Context:
        """Earlier answered turns of the session that fit the token budget, oldest first."""
        turns_wanted = self._policy.history_turns
        if turns_wanted == 0:
            return fit_to_budget([], 0)
        records = self._conversations.history(current.sessionId, limit=2 * turns_wanted + 1)
        answers = {r.messageId: r for r in records if r.messageType == "assistant"}
        turns: list[Turn] = []
        for record in records:
            if record.messageType != "user" or record.messageId == current.messageId:
                continue
            answer = answers.get(record.messageId)
            if answer is None:
                continue  # unanswered (failed or in flight): would break the turn order
            turns.append(Turn(record.content, answer.content, answer.queryType))
        return fit_to_budget(turns[-turns_wanted:], self._policy.context_token_budget)
