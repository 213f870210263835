"""Builds the chatbot engine (kept apart so the websocket handler never imports Strands)."""

from __future__ import annotations

from chatbot.config import Environment, Settings
from chatbot.documents import DocumentSearch
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
        documents=documents_for(runtime.settings),
    )


def documents_for(settings: Settings) -> DocumentSearch | None:
    """The document index the RAG path searches: the embedded one locally. In AWS, OpenSearch
    arrives with its adapter; until then the RAG path says it found nothing."""
    if settings.chatbot_env is Environment.AWS:
        return None
    from chatbot.adapters.local.documents import SQLiteDocumentIndex

    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return SQLiteDocumentIndex(settings.documents_path)
