"""The query router: embedding similarity to example questions, the model when unsure, rules last.

A message goes to the route (rag, general, mcp_tool) whose example questions it is most like.
When the best route is not clearly ahead, a classifier (the configured language model, asked
for one word) decides; when there is none, or it fails, the keyword rules of
``chatbot.engine.router`` do. The examples live in ``route_examples.yaml`` beside this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import operator
import re
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import yaml
from aws_lambda_powertools import Logger

from chatbot.embeddings import Embeddings
from chatbot.engine.route_vectors import RouteVectorsError, VectorsKey, file_name, load_shipped
from chatbot.engine.router import ROUTE_LABELS, determine_query_type
from chatbot.records import QueryType

if TYPE_CHECKING:
    from strands.models.model import Model

    from chatbot.config import Settings

logger = Logger(service="chatbot", child=True)

EXAMPLES_FILE: Final = "route_examples.yaml"
# Tuned on tests/data/routing/tune.jsonl (never on the evaluation set) with
# `chatbot eval routing --tune`: the loosest pair at which the decisions the router takes on
# its own are at least 95 % right there, so the model is asked only about the rest. See
# bench/results/routing-eval.md for the grid and the reasoning.
DEFAULT_MIN_SCORE: Final = 0.20
DEFAULT_MIN_MARGIN: Final = 0.04
# Seconds the classifier may take before the rules decide instead: a route is worth far less
# than the answer's own time budget.
DEFAULT_CLASSIFY_SECONDS: Final = 5.0
# Examples per call to the embeddings port (Titan embeds one text per request, concurrently).
EXAMPLE_BATCH: Final = 16
# What warm() embeds to load the model: any short text does.
WARM_UP_TEXT: Final = "hello"

Classifier = Callable[[str], Awaitable[QueryType | None]]
# How the route was decided; "follow-up" is the engine's: a short follow-up kept on the path
# of the question before it.
Method = Literal["semantic", "model", "rules", "follow-up"]

CLASSIFIER_PROMPT: Final = """\
You route messages in a company chatbot. Reply with exactly one word:
documents - a question answered from the user's own documents (policies, handbooks, manuals, \
contracts, reports, notes, company facts), with citations
tools - an explicit request to search the documents, or to create, read, update, delete or \
list the user's records, notes, tasks or entries
general - anything else: conversation, general knowledge, writing help, or a question about \
the previous answer
The user's message is the next turn. Do not answer it; reply with the one word."""


class RouteExamplesError(ValueError):
    """The examples file is malformed."""


@dataclass(frozen=True)
class RouteExamples:
    """Example questions per route, in file order."""

    by_route: Mapping[QueryType, tuple[str, ...]]

    @classmethod
    def from_yaml(cls, text: str) -> RouteExamples:
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise RouteExamplesError("the examples file must map route names to lists")
        by_route: dict[QueryType, tuple[str, ...]] = {}
        for name, examples in data.items():
            try:
                route = QueryType(name)
            except ValueError as error:
                raise RouteExamplesError(f"unknown route {name!r}") from error
            if not isinstance(examples, list) or not examples:
                raise RouteExamplesError(f"route {name!r} needs a non-empty list of examples")
            by_route[route] = tuple(str(example).strip() for example in examples)
        if set(by_route) != set(QueryType):
            missing = ", ".join(sorted(q.value for q in set(QueryType) - set(by_route)))
            raise RouteExamplesError(f"no examples for: {missing}")
        return cls(by_route)

    @classmethod
    def load(cls, path: Path | None = None) -> RouteExamples:
        """The file given, or the one shipped in this package."""
        if path is not None:
            return cls.from_yaml(path.read_text(encoding="utf-8"))
        shipped = resources.files("chatbot.engine") / EXAMPLES_FILE
        return cls.from_yaml(shipped.read_text(encoding="utf-8"))

    def pairs(self) -> list[tuple[QueryType, str]]:
        return [(route, text) for route, texts in self.by_route.items() for text in texts]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for route, text in self.pairs():
            digest.update(f"{route.value}\x00{text}\x00".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class RouteDecision:
    """Where a message goes, how that was decided, and how sure the semantic stage was.

    ``score`` is the best route's similarity and ``margin`` its lead over the runner-up; both
    are 0 when no similarity was computed.
    """

    query_type: QueryType
    method: Method
    score: float = 0.0
    margin: float = 0.0


# The examples' vectors, once per process and model: shipped in the package when a file
# matches (chatbot.engine.route_vectors), else embedded, in AWS a Titan request each.
_example_vectors: dict[tuple[str, int, str], list[tuple[QueryType, list[float]]]] = {}
_embedding_examples = threading.Lock()


class QueryRouter:
    """Routes messages by similarity to example questions, asking a classifier when unsure.

    ``min_score`` is the least similarity the best route needs and ``min_margin`` its least
    lead over the second best; below either, the router is unsure. Build one per process.
    ``vectors`` is the folder of precomputed example vectors (the package's by default).
    """

    def __init__(
        self,
        embeddings: Embeddings | None,
        examples: RouteExamples | None = None,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        min_margin: float = DEFAULT_MIN_MARGIN,
        classify: Classifier | None = None,
        classify_seconds: float = DEFAULT_CLASSIFY_SECONDS,
        vectors: Traversable | Path | None = None,
    ) -> None:
        self._embeddings = embeddings
        self._vectors_folder = vectors
        self._examples = examples or RouteExamples.load()
        self.min_score = min_score
        self.min_margin = min_margin
        self._classify = classify
        self._classify_seconds = classify_seconds
        # Which cached example vectors are this router's: same model, same examples.
        self._cache_key = (
            (embeddings.model_id, embeddings.dimensions, self._examples.fingerprint())
            if embeddings is not None
            else None
        )

    @property
    def examples(self) -> RouteExamples:
        return self._examples

    async def route(self, message: str, classify: Classifier | None = None) -> RouteDecision:
        """Decide the route of one message. ``classify`` overrides the one given at build."""
        classify = classify or self._classify
        if self._embeddings is None or not message.strip():
            return RouteDecision(determine_query_type(message), "rules")
        try:
            scores = await asyncio.to_thread(self.scores, message)
        except Exception as error:  # any embeddings failure: the classifier decides
            logger.warning("semantic routing failed", extra={"error": type(error).__name__})
            return await self._ask(message, classify, 0.0, 0.0)
        best, score, margin = ranked(scores)
        if self.is_confident(score, margin):
            return RouteDecision(best, "semantic", score, margin)
        return await self._ask(message, classify, score, margin)

    def is_confident(self, score: float, margin: float) -> bool:
        return score >= self.min_score and margin >= self.min_margin

    def scores(self, message: str) -> dict[QueryType, float]:
        """Each route's similarity to the message: that of its nearest example."""
        if self._embeddings is None:
            raise ValueError("a router without embeddings computes no similarity")
        return self.scores_of_vector(self._embeddings.embed_query(message))

    def scores_of_vector(self, vector: Sequence[float]) -> dict[QueryType, float]:
        best: dict[QueryType, float] = {}
        for route, example in self.example_vectors():
            # The port's vectors are unit length: the dot product is the cosine.
            similarity = sum(map(operator.mul, vector, example))
            if similarity > best.get(route, -2.0):
                best[route] = similarity
        return best

    def warm(self) -> None:
        """Load what the first route would otherwise wait for: the example vectors and the
        embedding model (by embedding one fixed text: the local model loads in seconds).
        Blocking; a server calls it before it takes questions, Lambda does not."""
        if self._embeddings is not None:
            self.example_vectors()
            self._embeddings.embed_query(WARM_UP_TEXT)

    def example_vectors(self) -> list[tuple[QueryType, list[float]]]:
        """The examples' vectors on first use, shipped or else embedded in batches; then from
        the process's cache."""
        embeddings = self._embeddings
        if embeddings is None or self._cache_key is None:
            return []
        key = self._cache_key
        with _embedding_examples:
            if key not in _example_vectors:
                pairs = self._examples.pairs()
                vectors = self._shipped_vectors(embeddings, len(pairs))
                if vectors is None:
                    vectors = _embed_examples(embeddings, [text for _, text in pairs])
                routes = [route for route, _ in pairs]
                _example_vectors[key] = list(zip(routes, vectors, strict=True))
            return _example_vectors[key]

    def _shipped_vectors(self, embeddings: Embeddings, count: int) -> list[list[float]] | None:
        model_id = embeddings.model_id
        key = VectorsKey(model_id, embeddings.dimensions, self._examples.fingerprint())
        try:
            vectors = load_shipped(key, count, self._vectors_folder)
        except (OSError, RouteVectorsError) as error:
            logger.warning(
                "the shipped route vectors are unreadable",
                extra={"file": file_name(model_id), "error": str(error)},
            )
            return None
        if vectors is None:
            # Once per process and model: the cache keeps what is embedded next.
            logger.warning(
                "no shipped route vectors match this model and these examples: embedding "
                "them now (scripts/route_vectors.py writes them)",
                extra={"model": model_id, "examples": count, "file": file_name(model_id)},
            )
        return vectors

    async def _ask(
        self, message: str, classify: Classifier | None, score: float, margin: float
    ) -> RouteDecision:
        if classify is not None:
            try:
                answer = await asyncio.wait_for(classify(message), self._classify_seconds)
            except Exception as error:  # a failed classifier: the rules decide
                logger.warning("model routing failed", extra={"error": type(error).__name__})
            else:
                if answer is not None:
                    return RouteDecision(answer, "model", score, margin)
                logger.info("the model's route was not one of the three")
        return RouteDecision(determine_query_type(message), "rules", score, margin)


def _embed_examples(embeddings: Embeddings, texts: Sequence[str]) -> list[list[float]]:
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EXAMPLE_BATCH):
        vectors += embeddings.embed_documents(texts[start : start + EXAMPLE_BATCH])
    return vectors


def ranked(scores: Mapping[QueryType, float]) -> tuple[QueryType, float, float]:
    """The best route, its score, and its lead over the second best."""
    order = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, score = order[0]
    runner_up = order[1][1] if len(order) > 1 else -1.0
    return best, score, score - runner_up


def parse_route(reply: str) -> QueryType | None:
    """The route a classifier's reply names: its first word, or the only route word in it."""
    words = re.findall(r"[a-z_]+", reply.lower())
    if not words:
        return None
    if words[0] in _ROUTE_WORDS:
        return _ROUTE_WORDS[words[0]]
    named = {_ROUTE_WORDS[word] for word in words if word in _ROUTE_WORDS}
    return named.pop() if len(named) == 1 else None


_ROUTE_WORDS: Final[dict[str, QueryType]] = {
    **{label: route for route, label in ROUTE_LABELS.items()},
    **{route.value: route for route in QueryType},
    "document": QueryType.RAG,
    "docs": QueryType.RAG,
    "tool": QueryType.MCP_TOOL,
}


async def classify_with_model(model: Model, message: str) -> QueryType | None:
    """Ask a Strands model for the route of ``message``; None when its reply names none.

    One agent turn with no tools and no retries: a slow or failing model should leave the
    decision to the rules quickly, not hold the answer up.
    """
    from strands import Agent  # Strands loads in seconds; only the engine needs it.

    agent = Agent(
        model=model, system_prompt=CLASSIFIER_PROMPT, callback_handler=None, retry_strategy=None
    )
    result = await agent.invoke_async(message)
    return parse_route(str(result))


def model_classifier(model: Model) -> Classifier:
    """A classifier that asks ``model``."""

    async def classify(message: str) -> QueryType | None:
        return await classify_with_model(model, message)

    return classify


def router_from_settings(
    settings: Settings,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    min_margin: float = DEFAULT_MIN_MARGIN,
    classify_seconds: float = DEFAULT_CLASSIFY_SECONDS,
    model_for: Callable[[QueryType], Model] | None = None,
) -> QueryRouter:
    """The configured embeddings, and the configured model as the classifier. ``model_for``
    is the engine's model factory, so that both share one model client."""
    from chatbot.embeddings import embeddings_from_settings

    return QueryRouter(
        embeddings_from_settings(settings),
        min_score=min_score,
        min_margin=min_margin,
        classify=model_classifier(classifier_model(settings, model_for)),
        classify_seconds=classify_seconds,
    )


def classifier_model(
    settings: Settings, model_for: Callable[[QueryType], Model] | None = None
) -> Model:
    """The configured model (``model_for``'s, when given); offline, the offline model as a
    classifier (the keyword rules)."""
    if settings.model_provider == "offline":
        from chatbot.engine.offline_model import ROUTER, OfflineModel

        return OfflineModel(route=ROUTER)
    if model_for is None:
        # Imported here: model_providers imports the engine, which imports this module.
        from chatbot.engine.model_providers import model_factory

        model_for = model_factory(settings)
    return model_for(QueryType.GENERAL)
