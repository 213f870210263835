"""Routing: each path gets the questions meant for it."""

from __future__ import annotations

import pytest

from chatbot.engine.router import ROUTE_LABELS, determine_query_type
from chatbot.records import QueryType


@pytest.mark.parametrize(
    "message",
    [
        "create a record titled Groceries",
        "Please add a new note about the meeting",
        "show record 3f2a9c1e",
        "delete record ID 7b1d9e44",
        "search the documents for refund policy",
        "update the task called deploy to done",
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
    ],
)
def test_questions_about_documents_go_to_rag(message: str) -> None:
    assert determine_query_type(message) is QueryType.RAG


@pytest.mark.parametrize("message", ["Hello!", "What is the capital of France?", "Tell me a joke"])
def test_everything_else_is_general_conversation(message: str) -> None:
    assert determine_query_type(message) is QueryType.GENERAL


def test_every_route_has_one_distinct_word_for_a_model_to_reply_with() -> None:
    assert set(ROUTE_LABELS) == set(QueryType)
    assert len(set(ROUTE_LABELS.values())) == len(QueryType)
    assert all(label.isalpha() and label.islower() for label in ROUTE_LABELS.values())
