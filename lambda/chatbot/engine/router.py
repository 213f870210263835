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

# Requests to act on the user's records: the tools path. Searching the documents is not one
# of them: asking to search, summarize or quote the documents is a documents question.
_TOOL_PATTERNS = (
    re.compile(
        r"\b(create|add|make|insert|new|update|change|edit|modify|rename|set|delete|remove|"
        r"erase|drop|read|show|get|fetch|open|display|list|search|find|save|log|put|store|count|"
        r"keep|jot|mark)\b.{0,40}\b(records?|"
        r"entr(y|ies)|items?|notes?|tasks?|to-?do)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\bmy\s+(saved\s+)?(records?|notes|tasks|entries|to-?do)\b", re.IGNORECASE),
    # A short follow-up acting on what the last turn made: "now delete it".
    re.compile(
        r"^\W*(now\s+|also\s+|then\s+)?(delete|remove|update|rename|mark|save|change)\s+"
        r"(it|that|this|them)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(record|note|task|entry)\s+(id\s+)?[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b", re.IGNORECASE
    ),
)

# Questions answered from the document index: the RAG path.
_DOCUMENT_PATTERNS = (
    re.compile(
        r"\b(documents?|docs|documentation|manuals?|handbooks?|guides?|policy|policies|readme|"
        r"knowledge\s+base|faq|spec(ification)?s?|architecture|protocol|index|files?|contracts?|"
        r"agreements?|runbooks?|wiki|memo|reports?|minutes|clause|section|sla|release\s+notes)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(according\s+to|per\s+the|cite|citations?|sources?|where\s+does\s+it\s+say|quote)\b",
        re.IGNORECASE,
    ),
    # The company's own facts ("our refund window", "do we allow"): documents before general.
    re.compile(r"\b(our|we|company'?s?)\b", re.IGNORECASE),
)

# Every rule, in a fixed order: also the keyword features of the router's learned classifier
# (chatbot.engine.route_classifier), whose shipped weights are keyed to these patterns' text.
KEYWORD_PATTERNS = _TOOL_PATTERNS + _DOCUMENT_PATTERNS


def keyword_route(message: str) -> QueryType | None:
    """The route a keyword rule names, or None when no rule matches.

    Record requests win over document questions ("save the policy summary as a note" acts on
    a record); "search the documents for X" is a documents question.
    """
    if any(pattern.search(message) for pattern in _TOOL_PATTERNS):
        return QueryType.MCP_TOOL
    if any(pattern.search(message) for pattern in _DOCUMENT_PATTERNS):
        return QueryType.RAG
    return None


def determine_query_type(message: str) -> QueryType:
    """Route by what the message asks for; general conversation is the default."""
    return keyword_route(message) or QueryType.GENERAL
