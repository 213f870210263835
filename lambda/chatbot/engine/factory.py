"""Builds the chatbot engine (kept apart so the websocket handler never imports Strands)."""

from __future__ import annotations

from typing import Literal

from chatbot.config import Settings
from chatbot.document_search import document_search
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine, ModelFactory
from chatbot.engine.mcp_tools import ToolsFor, mcp_tools
from chatbot.engine.model_providers import model_factory, model_id_of
from chatbot.engine.pricing import price_of
from chatbot.engine.retry import RetryPolicy
from chatbot.engine.semantic_router import QueryRouter, router_from_settings
from chatbot.engine.streaming import StreamingPolicy
from chatbot.ports import ConnectionSender
from chatbot.runtime import Runtime


def answer_policy(settings: Settings) -> AnswerPolicy:
    model_id = model_id_of(settings)
    return AnswerPolicy(
        history_turns=settings.history_turns,
        context_token_budget=settings.context_token_budget,
        rag_top_k=settings.rag_top_k,
        streaming=StreamingPolicy(
            max_wait=settings.delta_max_wait_ms / 1000, max_chars=settings.delta_max_chars
        ),
        retry=RetryPolicy(
            max_attempts=settings.model_max_attempts,
            base_delay=settings.model_retry_base_seconds,
            max_delay=settings.model_retry_max_seconds,
        ),
        model_id=model_id,
        price=price_of(
            model_id, settings.model_input_price_per_mtok, settings.model_output_price_per_mtok
        ),
        log_user_content=settings.log_user_content,
    )


def query_router(settings: Settings, model_for: ModelFactory) -> QueryRouter | None:
    """The semantic router (ROUTER_MODE=semantic) asking ``model_for``'s model when unsure,
    or None for the keyword rules alone."""
    if settings.router_mode == "rules":
        return None
    return router_from_settings(
        settings,
        min_score=settings.router_min_score,
        min_margin=settings.router_min_margin,
        classify_seconds=settings.router_classify_seconds,
        model_for=model_for,
    )


def build_engine(
    runtime: Runtime,
    sender: ConnectionSender,
    model_for: ModelFactory | None = None,
    tools_for: ToolsFor | None = None,
    router: QueryRouter | Literal["configured"] | None = "configured",
) -> ChatbotEngine:
    # One model client for the answers and the router's questions.
    model_for = model_for or model_factory(runtime.settings)
    return ChatbotEngine(
        conversations=runtime.conversations,
        analytics=runtime.analytics,
        sender=sender,
        model_for=model_for,
        policy=answer_policy(runtime.settings),
        tools_for=tools_for or mcp_tools(runtime.settings, runtime.clock),
        connections_of=runtime.sessions.connections_of,
        documents=document_search(runtime.settings, runtime.clock),
        router=query_router(runtime.settings, model_for) if router == "configured" else router,
        budget=runtime.budget,
        clock=runtime.clock,
    )
