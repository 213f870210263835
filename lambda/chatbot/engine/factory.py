"""Builds the chatbot engine (kept apart so the websocket handler never imports Strands)."""

from __future__ import annotations

from chatbot.document_search import document_search
from chatbot.engine.engine import ChatbotEngine, ModelFactory
from chatbot.engine.mcp_tools import ToolsFor, mcp_tools
from chatbot.engine.model_providers import model_factory
from chatbot.ports import ConnectionSender
from chatbot.runtime import Runtime


def build_engine(
    runtime: Runtime,
    sender: ConnectionSender,
    model_for: ModelFactory | None = None,
    tools_for: ToolsFor | None = None,
) -> ChatbotEngine:
    return ChatbotEngine(
        conversations=runtime.conversations,
        analytics=runtime.analytics,
        sender=sender,
        model_for=model_for or model_factory(runtime.settings),
        history_turns=runtime.settings.history_turns,
        tools_for=tools_for or mcp_tools(runtime.settings),
        connections_of=runtime.sessions.connections_of,
        documents=document_search(runtime.settings),
        rag_top_k=runtime.settings.rag_top_k,
    )
