"""The query router: a learned classifier over the message's embedding, the model when unsure.

A message goes to the route (rag, general, mcp_tool) the router's trained classifier
(``chatbot.engine.route_classifier``: weights shipped per embedding model) gives the highest
probability. When that probability is below the classifier's ``min_confidence``, the
configured language model is asked for one word; when there is no model to ask (offline), or
it fails, a keyword rule decides where one matches, else the classifier's best route stands.
Where no classifier was trained for the running embedding model, the router goes by the
nearest example questions (``route_examples.yaml`` beside this module) with score and margin
thresholds instead, and the keyword rules of ``chatbot.engine.router`` decide what neither the
similarity nor the model settles.
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
from chatbot.engine import route_classifier
from chatbot.engine.route_classifier import ClassifierKey, RouteClassifier, RouteClassifierError
from chatbot.engine.route_vectors import RouteVectorsError, VectorsKey, file_name, load_shipped
from chatbot.engine.router import ROUTE_LABELS, determine_query_type, keyword_route
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
# How the route was decided: "semantic" by the classifier (or the nearest examples) alone,
# "model" by the language model when that was unsure, "guess" by the classifier's best route
# when it was unsure, no model answered and no keyword rule matched, "rules" by the keyword
# rules; "follow-up" is the engine's: a short follow-up kept on the path of the question
# before it.
Method = Literal["semantic", "model", "guess", "rules", "follow-up"]
# Which classifier a router uses: the one shipped for its embedding model, or none (the
# nearest example questions decide).
ClassifierChoice = RouteClassifier | Literal["shipped", "none"]

CLASSIFIER_PROMPT: Final = """\
You route messages in a company chatbot. Reply with exactly one word:
documents - a question answered from the user's own documents (policies, handbooks, manuals, \
contracts, reports, meeting notes, company facts), with citations; also any request to \
search, summarize or quote the documents
tools - a request to create, read, update, delete, list or find the user's own records, \
notes, tasks or entries
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


# The shipped classifiers, once per process and key (None: no file for that key).
_classifiers: dict[ClassifierKey, RouteClassifier | None] = {}

# The examples' vectors, once per process and model: shipped in the package when a file
# matches (chatbot.engine.route_vectors), else embedded, in AWS a Titan request each.
_example_vectors: dict[tuple[str, int, str], list[tuple[QueryType, list[float]]]] = {}
_embedding_examples = threading.Lock()


class QueryRouter:
    """Routes messages with the learned classifier, else by similarity to example questions,
    asking a language model (``classify``) when unsure.

    ``classifier`` is the one shipped for the embedding model by default, a given one, or
    "none". Without one, ``min_score`` is the least similarity the best route needs and
    ``min_margin`` its least lead over the second best; below either, the router is unsure.
    Build one per process. ``vectors`` is the folder of precomputed example vectors (the
    package's by default).
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
        classifier: ClassifierChoice = "shipped",
    ) -> None:
        self._embeddings = embeddings
        self._classifier_choice = classifier
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
        embeddings = self._embeddings
        if embeddings is None or not message.strip():
            return RouteDecision(determine_query_type(message), "rules")
        try:
            vector = await asyncio.to_thread(embeddings.embed_query, message)
            classifier = self.classifier()
            if classifier is None:
                scores = self.scores_of_vector(vector)
            else:
                scores = classifier.probabilities(vector, message)
        except Exception as error:  # any embeddings failure: the model decides
            logger.warning("semantic routing failed", extra={"error": type(error).__name__})
            return await self._ask(message, classify, 0.0, 0.0)
        best, score, margin = ranked(scores)
        if classifier is None:
            if self.is_confident(score, margin):
                return RouteDecision(best, "semantic", score, margin)
            return await self._ask(message, classify, score, margin)
        if score >= classifier.min_confidence:
            return RouteDecision(best, "semantic", score, margin)
        return await self._ask(message, classify, score, margin, guess=best)

    def is_confident(self, score: float, margin: float) -> bool:
        return score >= self.min_score and margin >= self.min_margin

    def classifier(self) -> RouteClassifier | None:
        """The learned classifier this router uses, or None (the nearest examples decide)."""
        choice, embeddings = self._classifier_choice, self._embeddings
        if isinstance(choice, RouteClassifier):
            return choice
        if choice == "none" or embeddings is None:
            return None
        key = ClassifierKey.current(embeddings.model_id, embeddings.dimensions)
        with _embedding_examples:
            if key not in _classifiers:
                try:
                    _classifiers[key] = route_classifier.load_shipped(key)
                except (OSError, RouteClassifierError) as error:
                    logger.warning(
                        "the shipped route classifier is unreadable", extra={"error": str(error)}
                    )
                    _classifiers[key] = None
                if _classifiers[key] is None:
                    logger.info(
                        "no route classifier for this model: routing by the nearest examples "
                        "(scripts/train_router.py trains one)",
                        extra={"model": embeddings.model_id},
                    )
            return _classifiers[key]

    def probabilities(self, message: str) -> dict[QueryType, float]:
        """Each route's probability by the learned classifier (which must exist)."""
        classifier = self.classifier()
        if classifier is None or self._embeddings is None:
            raise ValueError("this router has no learned classifier")
        return classifier.probabilities(self._embeddings.embed_query(message), message)

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
            if self.classifier() is None:
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
        self,
        message: str,
        classify: Classifier | None,
        score: float,
        margin: float,
        guess: QueryType | None = None,
    ) -> RouteDecision:
        """The model's route; else a keyword rule's or, where none matches, the classifier's
        ``guess``; with no guess, the keyword rules' (general when none matches)."""
        if classify is not None:
            try:
                answer = await asyncio.wait_for(classify(message), self._classify_seconds)
            except Exception as error:  # a failed classifier: the rules decide
                logger.warning("model routing failed", extra={"error": type(error).__name__})
            else:
                if answer is not None:
                    return RouteDecision(answer, "model", score, margin)
                logger.info("the model's route was not one of the three")
        if guess is not None and keyword_route(message) is None:
            # No rule speaks to it: the classifier's best route. Where a rule matched, the rule
            # is right more often on the questions the classifier is unsure of (83 % for this
            # mix against 65 % for its best route alone, cross-validated on the tuning set).
            return RouteDecision(guess, "guess", score, margin)
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
    """The configured embeddings, and the configured model asked when the router is unsure.
    ``model_for`` is the engine's model factory, so that both share one model client. The
    offline model is not asked: it would answer by the keyword rules, which the classifier's
    own best route beats."""
    from chatbot.embeddings import embeddings_from_settings

    classify = None
    if settings.model_provider != "offline":
        classify = model_classifier(classifier_model(settings, model_for))
    return QueryRouter(
        embeddings_from_settings(settings),
        min_score=min_score,
        min_margin=min_margin,
        classify=classify,
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
