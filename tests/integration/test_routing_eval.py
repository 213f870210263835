"""The routing evaluation on the real local embedding model: the router clears its bar.

The bar (issue 16; figures in bench/results/routing-eval.md): on the 168 held-out questions of
tests/data/routing/routing.jsonl, with all-MiniLM-L6-v2, the shipped classifier and no model
to ask (as the engine runs offline), the router routes at least 95 % right (recorded: 95.2 %),
at least 90 % of the documents questions (recorded: 94.3 %) and of every other route, at
least 10 points above the keyword rules alone (recorded: 83.3 %), and needs the model for at
most 10 % of the questions (recorded: 8.3 %). The classifier and its threshold were trained
on the examples and the tuning set only (scripts/train_router.py).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from chatbot.adapters.local.embeddings import LocalEmbeddings
from chatbot.engine.offline_model import OfflineModel
from chatbot.engine.semantic_router import QueryRouter, RouteExamples, model_classifier
from chatbot.evaluation.routing import (
    DEFAULT_DATA,
    ROUTES,
    TUNE_DATA,
    RoutingReport,
    evaluate,
    load_routing_set,
    main,
)
from chatbot.records import QueryType
from tests.integration.embedding_models import offline_local_model

MIN_ACCURACY = 0.95
MIN_ROUTE_ACCURACY = 0.90
MIN_LEAD_OVER_RULES = 0.10
MAX_MODEL_SHARE = 0.10


@pytest.fixture(scope="module")
def embeddings() -> LocalEmbeddings:
    return offline_local_model(batch_size=16)


@pytest.fixture(scope="module")
def report(embeddings: LocalEmbeddings) -> RoutingReport:
    # Run once for the module's tests, on a loop of its own (the tests' loops are per test).
    return asyncio.run(
        evaluate(
            load_routing_set(DEFAULT_DATA),
            QueryRouter(embeddings),
            classifier=None,
            classifier_name="none",
            embeddings_name=embeddings.model_id,
            data_name="routing.jsonl",
        )
    )


def test_the_router_routes_the_held_out_questions_above_the_bar(report: RoutingReport) -> None:
    router = report.results[0]
    assert router.accuracy >= MIN_ACCURACY
    for route in ROUTES:
        assert router.route_accuracy(route) >= MIN_ROUTE_ACCURACY, route


def test_the_router_beats_the_keyword_rules_alone(report: RoutingReport) -> None:
    router, rules = report.results[0], report.results[-1]
    assert rules.name.startswith("keyword rules")
    assert router.accuracy >= rules.accuracy + MIN_LEAD_OVER_RULES


def test_the_model_is_asked_about_a_minority_of_questions(report: RoutingReport) -> None:
    router = report.results[0]
    needed_model = 1 - router.share("semantic")
    assert 0 < needed_model <= MAX_MODEL_SHARE
    # With no model to ask, a matching keyword rule or else the classifier's guess decides.
    assert router.share("model") == 0
    assert router.share("guess") + router.share("rules") == pytest.approx(needed_model)


async def test_an_unsure_question_asks_the_model_and_takes_its_answer(
    embeddings: LocalEmbeddings,
) -> None:
    asked: list[str] = []

    async def classify(message: str) -> QueryType | None:
        asked.append(message)
        return QueryType.MCP_TOOL

    router = QueryRouter(embeddings, classify=classify)
    classifier = router.classifier()
    assert classifier is not None
    unsure = [
        q.text
        for q in load_routing_set(DEFAULT_DATA)
        if max(router.probabilities(q.text).values()) < classifier.min_confidence
    ]
    decision = await router.route(unsure[0])
    assert (decision.query_type, decision.method, asked) == (
        QueryType.MCP_TOOL,
        "model",
        unsure[:1],
    )


def test_the_offline_model_as_the_classifier_still_clears_the_route_bar(
    embeddings: LocalEmbeddings,
) -> None:
    report = asyncio.run(
        evaluate(
            load_routing_set(DEFAULT_DATA),
            QueryRouter(embeddings),
            classifier=model_classifier(OfflineModel(route="router")),
            classifier_name="offline",
            embeddings_name=embeddings.model_id,
            data_name="routing.jsonl",
        )
    )
    router = report.results[0]
    # The offline model answers by the keyword rules, so the unsure questions fare worse than
    # with the engine's own fallback; the confident ones are the same.
    assert router.share("model") == pytest.approx(1 - router.share("semantic"))
    assert router.accuracy >= 0.90


def test_the_report_shows_accuracy_per_route_and_the_confusion_matrices(
    report: RoutingReport,
) -> None:
    text = report.to_markdown()
    assert "| system | accuracy | rag | general | mcp_tool | needed the model |" in text
    assert text.count("| label \\ routed | rag | general | mcp_tool |") == 2
    assert "keyword rules alone (baseline)" in text
    assert "classifier's best route only" in text
    assert "learned classifier, min_confidence" in text


def test_the_command_appends_a_dated_section_to_its_results_file(
    embeddings: LocalEmbeddings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "routing-eval.md"
    arguments = ["--output", str(output), "--classifier", "none"]
    assert main(arguments, embeddings=lambda: embeddings) == 0
    assert main(arguments, embeddings=lambda: embeddings) == 0
    written = output.read_text(encoding="utf-8")
    assert written.startswith("# Routing evaluation\n")
    assert len(re.findall(r"^## \d{4}-\d\d-\d\d \d\d:\d\d UTC", written, re.MULTILINE)) == 2
    assert "168 questions" in capsys.readouterr().out


def test_tuning_prints_the_threshold_grid_and_its_choice(
    embeddings: LocalEmbeddings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--tune"], embeddings=lambda: embeddings) == 0
    out = capsys.readouterr().out
    assert "tests/data/routing/tune.jsonl" in out
    assert "Chosen (most coverage at precision >= 95%)" in out


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_the_routing_sets_are_large_balanced_and_disjoint_from_the_examples() -> None:
    evaluation = load_routing_set(DEFAULT_DATA)
    tuning = load_routing_set(TUNE_DATA)
    assert len(evaluation) >= 150
    assert {q.route for q in evaluation} == set(ROUTES)
    assert len({q.id for q in [*evaluation, *tuning]}) == len(evaluation) + len(tuning)
    examples = {_normalised(text) for _, text in RouteExamples.load().pairs()}
    evaluation_texts = {_normalised(q.text) for q in evaluation}
    tuning_texts = {_normalised(q.text) for q in tuning}
    assert len(evaluation_texts) == len(evaluation)
    assert not evaluation_texts & examples
    assert not tuning_texts & examples
    assert not evaluation_texts & tuning_texts


def test_the_tuning_side_has_at_least_100_questions_beyond_the_first_60() -> None:
    tuning = load_routing_set(TUNE_DATA)
    assert len(tuning) >= 160
    assert {q.route for q in tuning[60:]} == set(ROUTES)


def test_document_searches_are_labelled_as_documents_questions() -> None:
    # The definition: asking to search, summarize or quote the documents is the
    # documents path; the tools path acts on records.
    searches = re.compile(
        r"\b(search|look up|find|query)\b.*"
        r"\b(docs|documents?|knowledge base|index|files|documentation)\b",
        re.I,
    )
    for q in [*load_routing_set(DEFAULT_DATA), *load_routing_set(TUNE_DATA)]:
        if searches.search(q.text) and not re.search(
            r"\b(records?|notes?|tasks?|entr(y|ies))\b", q.text, re.I
        ):
            assert q.route is QueryType.RAG, q.id


def test_every_line_of_the_routing_sets_is_a_labelled_question() -> None:
    for path in (DEFAULT_DATA, TUNE_DATA):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert set(row) <= {"id", "text", "route", "tags"}
            assert row["text"].strip() == row["text"] and row["text"]
