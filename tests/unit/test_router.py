"""Routing: each path gets the questions meant for it."""

from __future__ import annotations

import pytest

from chatbot.engine.router import ROUTE_LABELS, determine_query_type, keyword_route
from chatbot.records import QueryType


@pytest.mark.parametrize(
    "message",
    [
        "create a record titled Groceries",
        "Please add a new note about the meeting",
        "show record 3f2a9c1e",
        "delete record ID 7b1d9e44",
        "update the task called deploy to done",
        "Find my note about the dentist",
        "List my tasks",
        "Now delete it.",
        "Save the policy summary as a note",
    ],
)
def test_requests_to_act_go_to_the_tools(message: str) -> None:
    assert determine_query_type(message) is QueryType.MCP_TOOL


@pytest.mark.parametrize(
    "message",
    [
        "What does the architecture document say about ports?",
        "According to the handbook, how many leave days do I get?",
        "Which sources explain the WebSocket protocol?",
        # Asking to search, summarize or quote the documents is a documents question.
        "search the documents for refund policy",
        "Summarize the section on data retention in the policy document",
        "Quote the paragraph on overtime from the contract",
        "What is our refund window for annual plans?",
    ],
)
def test_questions_about_documents_go_to_rag(message: str) -> None:
    assert determine_query_type(message) is QueryType.RAG


@pytest.mark.parametrize("message", ["Hello!", "What is the capital of France?", "Tell me a joke"])
def test_everything_else_is_general_conversation(message: str) -> None:
    assert determine_query_type(message) is QueryType.GENERAL


def test_keyword_route_is_none_where_no_rule_matches() -> None:
    assert keyword_route("Tell me a joke") is None
    assert keyword_route("show record 3f2a9c1e") is QueryType.MCP_TOOL
    assert keyword_route("What does the handbook say?") is QueryType.RAG


def test_every_route_has_one_distinct_word_for_a_model_to_reply_with() -> None:
    assert set(ROUTE_LABELS) == set(QueryType)
    assert len(set(ROUTE_LABELS.values())) == len(QueryType)
    assert all(label.isalpha() and label.islower() for label in ROUTE_LABELS.values())
