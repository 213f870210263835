"""Keyword routing rules: which of the three paths (rag, general, mcp_tool) answers a message.

The last resort of the semantic router (``chatbot.engine.semantic_router``), and what the offline
model answers when asked to classify.
"""

from __future__ import annotations

import re

from chatbot.records import QueryType

# The word for each route when a model is asked to classify a message (and the offline model's
# reply): plainer to a language model than the routes' own names.
ROUTE_LABELS: dict[QueryType, str] = {
    QueryType.RAG: "documents",
    QueryType.GENERAL: "general",
    QueryType.MCP_TOOL: "tools",
}

# Requests to act on records, or to run a search explicitly: the tools path.
_TOOL_PATTERNS = (
    re.compile(
        r"\b(create|add|make|insert|new|update|change|edit|modify|rename|set|delete|remove|"
        r"erase|drop|read|show|get|fetch|open|display|list)\b.{0,40}\b(records?|entr(y|ies)|items?|"
        r"notes?|tasks?)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\brecord\s+(id\s+)?[A-Za-z0-9_-]{6,}\b", re.IGNORECASE),
    re.compile(
        r"\b(search|look\s+up|find)\b.{0,20}\b(documents?|docs|knowledge\s+base|index)\b",
        re.IGNORECASE,
    ),
)

# Questions answered from the document index: the RAG path.
_DOCUMENT_PATTERNS = (
    re.compile(
        r"\b(documents?|docs|documentation|manual|handbook|guide|policy|policies|readme|"
        r"knowledge\s+base|faq|spec(ification)?s?|architecture|protocol)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(according\s+to|cite|citations?|sources?|where\s+does\s+it\s+say)\b", re.IGNORECASE
    ),
)


def determine_query_type(message: str) -> QueryType:
    """Route by what the message asks for; general conversation is the default.

    Tool requests win over document questions: "search the documents for X" is a tool call.
    """
    if any(pattern.search(message) for pattern in _TOOL_PATTERNS):
        return QueryType.MCP_TOOL
    if any(pattern.search(message) for pattern in _DOCUMENT_PATTERNS):
        return QueryType.RAG
    return QueryType.GENERAL
