"""The semantic router: similarity decides when sure, the classifier when not, the rules last."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence

import pytest

from chatbot.config import Settings
from chatbot.engine.offline_model import ROUTER, OfflineModel
from chatbot.engine.semantic_router import (
    DEFAULT_MIN_MARGIN,
    DEFAULT_MIN_SCORE,
    EXAMPLE_BATCH,
    QueryRouter,
    RouteExamples,
    RouteExamplesError,
    classifier_model,
    classify_with_model,
    parse_route,
    router_from_settings,
)
from chatbot.records import QueryType
from tests.conftest import ScriptedModel

# Each word points along its own axis; a message's vector is its words' sum, normalised. So a
# one-word message equals its example (similarity 1) and a two-word one lies between two.
_AXES = {"policy": 0, "hello": 1, "record": 2}
_OTHER = 3


class FakeEmbeddings:
    """Deterministic unit vectors from the words of a text; counts its calls."""

    def __init__(self) -> None:
        # Unique per instance, so the process-wide cache of example vectors is not shared.
        self._model_id = f"fake-{uuid.uuid4()}"
        self.document_batches: list[int] = []
        self.queries: list[str] = []
        self.failing: Exception | None = None

    @property
    def dimensions(self) -> int:
        return 4

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.document_batches.append(len(texts))
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        if self.failing is not None:
            raise self.failing
        self.queries.append(text)
        return self._vector(text)

    @staticmethod
    def _vector(text: str) -> list[float]:
        vector = [0.0] * 4
        for word in text.lower().split():
            vector[_AXES.get(word, _OTHER)] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]


EXAMPLES = RouteExamples(
    {
        QueryType.RAG: ("policy",),
        QueryType.GENERAL: ("hello",),
        QueryType.MCP_TOOL: ("record",),
    }
)


class Classifier:
    """A classifier that gives a scripted answer, or raises, and remembers what it was asked."""

    def __init__(self, answer: QueryType | Exception | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def __call__(self, message: str) -> QueryType | None:
        self.asked.append(message)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def router(embeddings: FakeEmbeddings | None = None, **options: float) -> QueryRouter:
    return QueryRouter(
        embeddings if embeddings is not None else FakeEmbeddings(), EXAMPLES, **options
    )


async def test_a_message_like_one_route_examples_is_routed_without_the_model() -> None:
    classifier = Classifier(QueryType.GENERAL)
    decision = await router().route("record", classifier)
    assert decision.query_type is QueryType.MCP_TOOL
    assert decision.method == "semantic"
    assert decision.score == pytest.approx(1.0)
    assert decision.margin == pytest.approx(1.0)
    assert classifier.asked == []


async def test_a_message_between_two_routes_is_left_to_the_model() -> None:
    classifier = Classifier(QueryType.GENERAL)
    decision = await router().route("policy record", classifier)
    assert decision.query_type is QueryType.GENERAL
    assert decision.method == "model"
    assert decision.margin == pytest.approx(0.0)
    assert classifier.asked == ["policy record"]


async def test_a_message_like_no_example_is_left_to_the_model() -> None:
    classifier = Classifier(QueryType.RAG)
    decision = await router(min_score=0.5).route("something else entirely", classifier)
    assert decision.method == "model"
    assert decision.score == pytest.approx(0.0)


async def test_the_classifier_given_at_build_is_asked_when_none_is_passed() -> None:
    classifier = Classifier(QueryType.RAG)
    built = QueryRouter(FakeEmbeddings(), EXAMPLES, classify=classifier)
    decision = await built.route("policy record")
    assert (decision.query_type, decision.method) == (QueryType.RAG, "model")


async def test_unsure_without_a_classifier_the_keyword_rules_decide() -> None:
    # "delete record ..." is a tool request by the rules; "hello" pulls it towards general.
    decision = await router().route("hello delete record 12345678")
    assert decision.query_type is QueryType.MCP_TOOL
    assert decision.method == "rules"


@pytest.mark.parametrize(
    "failure", [RuntimeError("model down"), TimeoutError(), ValueError("bad reply")]
)
async def test_a_failing_classifier_leaves_the_decision_to_the_rules(failure: Exception) -> None:
    classifier = Classifier(failure)
    decision = await router().route("hello policy", classifier)
    assert classifier.asked == ["hello policy"]
    assert (decision.query_type, decision.method) == (QueryType.RAG, "rules")


async def test_a_classifier_naming_no_route_leaves_the_decision_to_the_rules() -> None:
    decision = await router().route("hello policy", Classifier(None))
    assert (decision.query_type, decision.method) == (QueryType.RAG, "rules")


async def test_a_classifier_slower_than_its_time_limit_leaves_the_decision_to_the_rules() -> None:
    never = asyncio.Event()

    async def stalled(message: str) -> QueryType | None:
        await never.wait()
        return QueryType.GENERAL

    slow = QueryRouter(FakeEmbeddings(), EXAMPLES, classify_seconds=0.01)
    decision = await slow.route("hello policy", stalled)
    assert (decision.query_type, decision.method) == (QueryType.RAG, "rules")


async def test_without_embeddings_the_rules_decide_and_no_model_is_asked() -> None:
    classifier = Classifier(QueryType.GENERAL)
    decision = await QueryRouter(None, EXAMPLES).route("show record 3f2a9c1e", classifier)
    assert (decision.query_type, decision.method) == (QueryType.MCP_TOOL, "rules")
    assert classifier.asked == []


async def test_when_embedding_fails_the_model_decides() -> None:
    embeddings = FakeEmbeddings()
    embeddings.failing = ConnectionError("Titan unreachable")
    decision = await router(embeddings).route("policy", Classifier(QueryType.RAG))
    assert (decision.query_type, decision.method) == (QueryType.RAG, "model")


async def test_an_empty_message_is_general_conversation_by_the_rules() -> None:
    embeddings = FakeEmbeddings()
    decision = await router(embeddings).route("   ")
    assert (decision.query_type, decision.method) == (QueryType.GENERAL, "rules")
    assert embeddings.queries == []


async def test_examples_are_embedded_once_in_batches_through_the_port() -> None:
    many = RouteExamples(
        {
            QueryType.RAG: tuple(f"policy {n}" for n in range(20)),
            QueryType.GENERAL: tuple(f"hello {n}" for n in range(10)),
            QueryType.MCP_TOOL: tuple(f"record {n}" for n in range(10)),
        }
    )
    embeddings = FakeEmbeddings()
    first = QueryRouter(embeddings, many)
    await first.route("policy")
    await first.route("record")
    # A second router over the same model and examples (a new engine in the same process).
    await QueryRouter(embeddings, many).route("hello")
    assert sum(embeddings.document_batches) == 40
    assert max(embeddings.document_batches) <= EXAMPLE_BATCH
    assert len(embeddings.document_batches) == math.ceil(40 / EXAMPLE_BATCH)


def test_the_shipped_examples_cover_every_route_and_stay_few() -> None:
    examples = RouteExamples.load()
    assert set(examples.by_route) == set(QueryType)
    assert all(len(texts) >= 10 for texts in examples.by_route.values())
    # In AWS each example is a Titan request at cold start.
    assert len(examples.pairs()) <= 120


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "rag: [a]\ngeneral: [b]",
        "rag: [a]\ngeneral: [b]\nmcp_tool: []",
        "rag: [a]\ngeneral: [b]\nmcp_tool: [c]\nweather: [d]",
    ],
)
def test_a_malformed_examples_file_is_refused(text: str) -> None:
    with pytest.raises(RouteExamplesError):
        RouteExamples.from_yaml(text)


@pytest.mark.parametrize(
    ("reply", "route"),
    [
        ("documents", QueryType.RAG),
        ("Tools.", QueryType.MCP_TOOL),
        ("general\n", QueryType.GENERAL),
        ("rag", QueryType.RAG),
        ("mcp_tool", QueryType.MCP_TOOL),
        ("The answer is: tools", QueryType.MCP_TOOL),
        ("", None),
        ("I cannot tell", None),
        ("documents or general", QueryType.RAG),
        ("either documents or general", None),
    ],
)
def test_the_classifier_reply_is_read_as_one_route_or_none(
    reply: str, route: QueryType | None
) -> None:
    assert parse_route(reply) is route


@pytest.mark.parametrize(
    ("message", "route"),
    [
        ("delete record 7b1d9e44", QueryType.MCP_TOOL),
        ("What does the handbook say about leave?", QueryType.RAG),
        ("Tell me a joke", QueryType.GENERAL),
    ],
)
async def test_the_offline_model_classifies_through_the_agent_loop(
    message: str, route: QueryType
) -> None:
    assert await classify_with_model(OfflineModel(route="router"), message) is route


async def test_a_scripted_model_reply_is_parsed_and_it_is_asked_the_message_itself() -> None:
    model = ScriptedModel(["documents"])
    assert await classify_with_model(model, "Can I bring my dog to the office?") is QueryType.RAG
    (messages,) = model.calls
    assert messages[-1]["content"][0]["text"] == "Can I bring my dog to the office?"


async def test_a_model_that_names_no_route_classifies_as_none() -> None:
    assert await classify_with_model(ScriptedModel(["Hmm, hard to say."]), "hi") is None


async def test_a_failing_model_is_not_retried_and_its_error_reaches_the_router() -> None:
    model = ScriptedModel([RuntimeError("throttled"), "documents"])
    with pytest.raises(RuntimeError):
        await classify_with_model(model, "hi")
    assert len(model.calls) == 1


def test_offline_settings_make_a_router_over_the_local_model_and_the_offline_classifier(
    settings: Settings,
) -> None:
    built = router_from_settings(settings)
    assert (built.min_score, built.min_margin) == (DEFAULT_MIN_SCORE, DEFAULT_MIN_MARGIN)
    model = classifier_model(settings)
    assert isinstance(model, OfflineModel)
    assert model.get_config()["route"] == ROUTER
