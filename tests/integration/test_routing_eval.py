"""The routing evaluation on the real local embedding model: the router clears its bar.

The bar (also in bench/results/routing-eval.md): on the 168 held-out questions of
tests/data/routing/routing.jsonl, with all-MiniLM-L6-v2 and the offline model as the classifier,
the router routes at least 80 % right (recorded: 85.1 %), at least 65 % of every route
(recorded: rag 75.0 %, general 94.6 %, mcp_tool 85.7 %), at least 10 points above the keyword
rules alone (recorded: 67.3 %), and asks the model about at most 35 % of the questions
(recorded: 18.5 %).
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
from tests.integration.embedding_models import offline_local_model

MIN_ACCURACY = 0.80
MIN_ROUTE_ACCURACY = 0.65
MIN_LEAD_OVER_RULES = 0.10
MAX_MODEL_SHARE = 0.35


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
            classifier=model_classifier(OfflineModel(route="router")),
            classifier_name="offline",
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
    assert router.share("model") == pytest.approx(needed_model)  # the offline model always answers


def test_the_report_shows_accuracy_per_route_and_the_confusion_matrices(
    report: RoutingReport,
) -> None:
    text = report.to_markdown()
    assert "| system | accuracy | rag | general | mcp_tool | needed the model |" in text
    assert text.count("| label \\ routed | rag | general | mcp_tool |") == 2
    assert "keyword rules alone (baseline)" in text


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


def test_every_line_of_the_routing_sets_is_a_labelled_question() -> None:
    for path in (DEFAULT_DATA, TUNE_DATA):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert set(row) <= {"id", "text", "route", "tags"}
            assert row["text"].strip() == row["text"] and row["text"]
