"""The router's learned classifier: its file, its probabilities, and how the router uses it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.config import Settings
from chatbot.engine.route_classifier import (
    ClassifierKey,
    RouteClassifier,
    RouteClassifierError,
    file_name,
    keyword_features,
    load_shipped,
)
from chatbot.engine.router import KEYWORD_PATTERNS
from chatbot.engine.semantic_router import QueryRouter, router_from_settings
from chatbot.records import QueryType
from tests.unit.test_semantic_router import EXAMPLES, Classifier, FakeEmbeddings

REPO = Path(__file__).resolve().parents[2]
ROUTES = (QueryType.RAG, QueryType.GENERAL, QueryType.MCP_TOOL)
KEYWORDS = len(KEYWORD_PATTERNS)


def classifier_for(
    embeddings: FakeEmbeddings, *, min_confidence: float = 0.8, strength: float = 3.0
) -> RouteClassifier:
    """Weights that read the fake embedding's axes: policy -> rag, hello -> general,
    record -> tools; the fourth axis (any other word) and the keyword features count for
    nothing."""
    rows = []
    for axis in range(3):
        row = [0.0] * (embeddings.dimensions + KEYWORDS)
        row[axis] = strength
        rows.append(tuple(row))
    return RouteClassifier(
        key=ClassifierKey.current(embeddings.model_id, embeddings.dimensions),
        routes=ROUTES,
        weights=tuple(rows),
        bias=(0.0, 0.0, 0.0),
        min_confidence=min_confidence,
        provenance={},
    )


def test_probabilities_are_a_softmax_over_the_routes() -> None:
    embeddings = FakeEmbeddings()
    classifier = classifier_for(embeddings, strength=6.0)
    probabilities = classifier.probabilities(embeddings.embed_query("policy"), "policy")
    assert math.fsum(probabilities.values()) == pytest.approx(1.0)
    assert probabilities[QueryType.RAG] == pytest.approx(math.exp(6) / (math.exp(6) + 2))
    assert probabilities[QueryType.GENERAL] == pytest.approx(probabilities[QueryType.MCP_TOOL])


def test_keyword_features_say_which_rules_match() -> None:
    features = keyword_features("delete record 7b1d9e44")
    assert len(features) == KEYWORDS
    assert set(features) == {0.0, 1.0}
    assert keyword_features("a joke, please") == [0.0] * KEYWORDS


def test_a_classifier_survives_its_file_and_refuses_the_wrong_shape(tmp_path: Path) -> None:
    embeddings = FakeEmbeddings()
    classifier = classifier_for(embeddings)
    again = RouteClassifier.from_json(classifier.to_json())
    assert again == classifier
    document = json.loads(classifier.to_json())
    document["weights"][0] = document["weights"][0][:-1]
    with pytest.raises(RouteClassifierError, match="values"):
        RouteClassifier.from_json(json.dumps(document))
    document = json.loads(classifier.to_json())
    document["routes"] = ["rag", "rag", "general"]
    with pytest.raises(RouteClassifierError, match="per route"):
        RouteClassifier.from_json(json.dumps(document))
    with pytest.raises(RouteClassifierError):
        RouteClassifier.from_json("[]")


def test_a_file_trained_for_other_features_or_another_model_is_not_used(tmp_path: Path) -> None:
    embeddings = FakeEmbeddings()
    classifier = classifier_for(embeddings)
    path = tmp_path / file_name(embeddings.model_id)
    path.write_text(classifier.to_json(), encoding="utf-8")
    assert load_shipped(classifier.key, tmp_path) == classifier
    other_rules = ClassifierKey(embeddings.model_id, embeddings.dimensions, "0" * 64)
    assert load_shipped(other_rules, tmp_path) is None
    assert load_shipped(ClassifierKey.current("another-model", 4), tmp_path) is None


async def test_a_confident_classifier_decides_without_the_model() -> None:
    embeddings = FakeEmbeddings()
    router = QueryRouter(embeddings, EXAMPLES, classifier=classifier_for(embeddings))
    model = Classifier(QueryType.GENERAL)
    decision = await router.route("record", model)
    assert (decision.query_type, decision.method) == (QueryType.MCP_TOOL, "semantic")
    assert decision.score > 0.8
    assert model.asked == []


async def test_an_unsure_classifier_asks_the_model_and_takes_its_route() -> None:
    embeddings = FakeEmbeddings()
    router = QueryRouter(embeddings, EXAMPLES, classifier=classifier_for(embeddings))
    model = Classifier(QueryType.GENERAL)
    decision = await router.route("policy record", model)
    assert (decision.query_type, decision.method) == (QueryType.GENERAL, "model")
    assert model.asked == ["policy record"]


async def test_unsure_with_no_model_and_no_rule_the_classifiers_best_route_stands() -> None:
    embeddings = FakeEmbeddings()
    router = QueryRouter(embeddings, EXAMPLES, classifier=classifier_for(embeddings))
    # Two "hello"s and one "record": general leads, but below min_confidence; no rule matches.
    decision = await router.route("hello hello record")
    assert (decision.query_type, decision.method) == (QueryType.GENERAL, "guess")
    assert decision.score < 0.8


async def test_unsure_with_a_failing_model_a_matching_rule_decides() -> None:
    embeddings = FakeEmbeddings()
    router = QueryRouter(embeddings, EXAMPLES, classifier=classifier_for(embeddings))
    # The classifier leans to general ("hello" twice), the rules see a document question.
    decision = await router.route("hello hello policy handbook", Classifier(RuntimeError()))
    assert (decision.query_type, decision.method) == (QueryType.RAG, "rules")


async def test_without_a_classifier_the_router_goes_by_the_nearest_examples() -> None:
    embeddings = FakeEmbeddings()
    router = QueryRouter(embeddings, EXAMPLES, classifier="none")
    assert router.classifier() is None
    decision = await router.route("record")
    assert (decision.query_type, decision.method) == (QueryType.MCP_TOOL, "semantic")
    # The shipped default finds no file for a fake model either.
    assert QueryRouter(FakeEmbeddings(), EXAMPLES).classifier() is None


def test_the_local_model_has_a_shipped_classifier_that_asks_rarely() -> None:
    shipped = load_shipped(ClassifierKey.current("all-MiniLM-L6-v2", 384))
    assert shipped is not None
    assert 0.5 < shipped.min_confidence < 1.0
    assert float(str(shipped.provenance["cv_asked"])) <= 0.10
    assert float(str(shipped.provenance["cv_routed_accuracy"])) >= 0.95


def test_the_shipped_classifiers_were_trained_on_todays_examples_and_tuning_set() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train_router.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "all-MiniLM-L6-v2.json" in run.stdout


def test_offline_the_router_asks_no_model(settings: Settings) -> None:
    # The offline model would answer by the keyword rules, which the fallback already uses.
    assert router_from_settings(settings)._classify is None
