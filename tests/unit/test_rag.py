"""The RAG path: grounded prompt, extractive offline answers, citations, and honesty when empty."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.engine.extractive import extractive_answer
from chatbot.engine.offline_model import OfflineModel
from chatbot.engine.rag import NOTHING_FOUND, citations, grounded_prompt, parse_grounded_prompt
from chatbot.ports import EngineRequest
from chatbot.records import DocumentChunk, QueryType
from tests.conftest import FakeClock, ScriptedModel
from tests.unit.conftest import RecordingSender

CHUNKS = [
    DocumentChunk(
        id="c1",
        source="docs/refunds.md",
        score=0.82,
        content="Refunds are paid within 14 days. Contact support to start a refund.",
    ),
    DocumentChunk(
        id="c2",
        source="docs/shipping.md",
        score=0.41,
        content="Orders ship in two days. Tracking numbers arrive by email.",
    ),
]


class FixedSearch:
    def __init__(self, chunks: list[DocumentChunk]) -> None:
        self.chunks = chunks
        self.queries: list[tuple[str, int]] = []

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        self.queries.append((query, limit))
        return self.chunks[:limit]


def engine(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    search: FixedSearch,
    model: Any = None,
) -> ChatbotEngine:
    return ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=lambda query_type: model or OfflineModel(route=query_type.value),
        policy=AnswerPolicy(history_turns=10, rag_top_k=4),
        documents=search,
    )


def test_the_grounded_prompt_numbers_its_sources_and_reads_back() -> None:
    prompt = grounded_prompt("How fast are refunds?", CHUNKS)
    assert "[1] (docs/refunds.md)\nRefunds are paid" in prompt
    assert "[2] (docs/shipping.md)" in prompt
    question, sources = parse_grounded_prompt(prompt) or ("", [])
    assert question == "How fast are refunds?"
    assert [(n, source) for n, source, _ in sources] == [
        (1, "docs/refunds.md"),
        (2, "docs/shipping.md"),
    ]
    assert sources[0][2] == CHUNKS[0].content


def test_the_extractive_answer_quotes_the_relevant_sentences_with_their_citation() -> None:
    _, sources = parse_grounded_prompt(grounded_prompt("When are refunds paid?", CHUNKS)) or (
        "",
        [],
    )
    answer = extractive_answer("When are refunds paid?", sources)
    assert "Refunds are paid within 14 days [1]." in answer
    assert "Tracking" not in answer


async def test_a_document_question_is_answered_from_the_chunks_with_sources_and_citations(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    search = FixedSearch(CHUNKS)
    conversations.add_user_message("s", "m1", "According to the docs, when are refunds paid?")
    request = EngineRequest(sessionId="s", messageId="m1", connectionId="c")
    answer = await engine(conversations, analytics, sender, search).process_message(request)
    final = json.loads(sender.posted[-1][1])
    deltas = [json.loads(data) for _, data in sender.posted[:-1]]
    assert search.queries == [("According to the docs, when are refunds paid?", 4)]
    assert final["queryType"] == "rag"
    assert "within 14 days" in final["content"] and "[1]" in final["content"]
    assert "".join(d["content"] for d in deltas) == final["content"]
    # Only what the answer cites is listed; [n] in the content is the citation whose id is n:
    # the prompt's numbering, not chunk ids.
    assert final["sources"] == ["docs/refunds.md"]
    assert [(c["id"], c["source"], c["score"]) for c in final["citations"]] == [
        ("1", "docs/refunds.md", 0.82),
    ]
    assert answer is not None and answer.citations is not None and len(answer.citations) == 1


async def test_with_no_relevant_chunk_it_says_so_without_asking_a_model(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    model = ScriptedModel(["an invented answer"])
    conversations.add_user_message("s", "m1", "What does the handbook say about unicorns?")
    request = EngineRequest(sessionId="s", messageId="m1", connectionId="c")
    await engine(conversations, analytics, sender, FixedSearch([]), model).process_message(request)
    final = json.loads(sender.posted[-1][1])
    assert final["content"] == NOTHING_FOUND
    assert final["sources"] == [] and "citations" not in final
    assert model.calls == []


async def test_the_model_sees_the_sources_in_its_prompt(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    model = ScriptedModel(["Refunds take 14 days [1]."])
    conversations.add_user_message("s", "m1", "According to the policy, how long do refunds take?")
    request = EngineRequest(sessionId="s", messageId="m1", connectionId="c")
    await engine(conversations, analytics, sender, FixedSearch(CHUNKS), model).process_message(
        request
    )
    prompt = model.calls[0][-1]["content"][0]["text"]
    assert prompt.startswith("Sources:") and "[1] (docs/refunds.md)" in prompt
    assert QueryType.RAG.value == json.loads(sender.posted[-1][1])["queryType"]


async def conversation(chatbot: ChatbotEngine, store: ConversationStore, *questions: str) -> Any:
    """Asks ``questions`` in turn in one session; the last answer."""
    answer = None
    for number, question in enumerate(questions, 1):
        store.add_user_message("s", f"m{number}", question)
        request = EngineRequest(sessionId="s", messageId=f"m{number}", connectionId="c")
        answer = await chatbot.process_message(request)
    return answer


FIRST = "According to the docs, when are refunds paid?"


@pytest.mark.parametrize(
    ("then", "route", "searched"),
    [
        # A short question that refers back: still the documents, searched with the first.
        ("And how do I start one?", QueryType.RAG, f"{FIRST} And how do I start one?"),
        # A new subject: not a follow-up, and no search.
        ("Write me a haiku about autumn leaves", QueryType.GENERAL, None),
        # A follow-up that plainly asks for a tool goes to the tools.
        ("Now delete that record", QueryType.MCP_TOOL, None),
    ],
)
async def test_a_follow_up_stays_on_the_documents_and_a_new_subject_does_not(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    then: str,
    route: QueryType,
    searched: str | None,
) -> None:
    search = FixedSearch(CHUNKS)
    chatbot = engine(conversations, analytics, sender, search)
    answer = await conversation(chatbot, conversations, FIRST, then)
    assert answer is not None and answer.queryType is route
    assert search.queries[1:] == ([(searched, 4)] if searched else [])
    if searched:
        assert "Contact support to start a refund [1]." in answer.content


def test_a_citations_excerpt_starts_at_the_sentence_the_answer_quotes_from_it() -> None:
    long_chunk = DocumentChunk(
        id="c9",
        source="docs/refunds.md",
        score=0.5,
        content="## Refunds\n\n" + "Orders are packed by hand. " * 12 + "Refunds take 14 days.",
    )
    answer = "From the documents: Refunds take 14 days [1]."
    [cited] = citations([long_chunk], [1], answer)
    assert cited.excerpt == "…Refunds take 14 days."
    # A paraphrase (a real model's) quotes nothing word for word: the chunk's start, cut
    # between words.
    [paraphrased] = citations([long_chunk], [1], "Two weeks [1].")
    assert paraphrased.excerpt.startswith("## Refunds Orders are packed by hand.")
    assert paraphrased.excerpt.endswith("…") and len(paraphrased.excerpt) <= 280
    flat = " ".join(long_chunk.content.split())
    assert flat.startswith(paraphrased.excerpt[:-1] + " ")
