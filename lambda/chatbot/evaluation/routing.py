"""Routing evaluation: the semantic router against labelled questions, beside simpler ways.

Each question of a labelled set (JSONL: ``text``, ``route``) is routed by the router as the
engine runs it (the learned classifier; the model when it is unsure; offline, a matching
keyword rule or else the classifier's best route), by the classifier's best route alone, by
the nearest example questions alone (no thresholds, no model), and by the keyword rules alone.
Reports accuracy overall and per route, the confusion matrix and the share of questions the
model was needed for. ``--tune`` instead searches the nearest-example thresholds (the router's
way where no classifier was trained for the embedding model) on a set; the classifier itself
is trained by ``scripts/train_router.py``.

    chatbot eval routing [--data FILE] [--classifier none|offline|configured] [--output FILE]
    chatbot eval routing --tune [--data tests/data/routing/tune.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from chatbot.clock import SystemClock
from chatbot.embeddings import Embeddings
from chatbot.engine.router import determine_query_type
from chatbot.engine.semantic_router import (
    DEFAULT_MIN_MARGIN,
    DEFAULT_MIN_SCORE,
    Classifier,
    QueryRouter,
    classifier_model,
    model_classifier,
    ranked,
)
from chatbot.errors import ModelUnavailableError
from chatbot.evaluation.results_log import append_section
from chatbot.records import QueryType

DATA_DIR: Final = Path(__file__).resolve().parents[3] / "tests" / "data" / "routing"
DEFAULT_DATA: Final = DATA_DIR / "routing.jsonl"
TUNE_DATA: Final = DATA_DIR / "tune.jsonl"
ROUTES: Final = (QueryType.RAG, QueryType.GENERAL, QueryType.MCP_TOOL)
# What the semantic stage must reach on the tuning set: the share of its own decisions that are
# right. Below it, routing by similarity adds errors the model would not make.
TARGET_PRECISION: Final = 0.95
SCORE_GRID: Final = tuple(round(0.20 + 0.05 * step, 2) for step in range(11))  # 0.20 .. 0.70
MARGIN_GRID: Final = tuple(round(0.01 * step, 2) for step in range(16))  # 0.00 .. 0.15


class RoutingSetError(ValueError):
    """A labelled routing set is malformed."""


@dataclass(frozen=True)
class LabelledQuestion:
    id: str
    text: str
    route: QueryType
    tags: tuple[str, ...] = ()


def load_routing_set(path: Path) -> list[LabelledQuestion]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(
                LabelledQuestion(
                    id=str(row["id"]),
                    text=str(row["text"]),
                    route=QueryType(row["route"]),
                    tags=tuple(row.get("tags", ())),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise RoutingSetError(f"{path}:{number}: {error}") from error
    if not questions:
        raise RoutingSetError(f"{path} holds no questions")
    return questions


@dataclass(frozen=True)
class SystemResult:
    """One way of routing, scored: predictions in the order of the questions."""

    name: str
    labels: tuple[QueryType, ...]
    predictions: tuple[QueryType, ...]
    methods: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        right = sum(1 for a, b in zip(self.labels, self.predictions, strict=True) if a is b)
        return right / len(self.labels)

    def route_accuracy(self, route: QueryType) -> float:
        pairs = [(a, b) for a, b in zip(self.labels, self.predictions, strict=True) if a is route]
        return sum(1 for a, b in pairs if a is b) / len(pairs) if pairs else 0.0

    def confusion(self) -> Counter[tuple[QueryType, QueryType]]:
        return Counter(zip(self.labels, self.predictions, strict=True))

    def share(self, method: str) -> float:
        return self.methods.count(method) / len(self.methods) if self.methods else 0.0

    def accuracy_by(self, method: str) -> tuple[int, float]:
        """How many questions ``method`` decided, and the share of those it got right."""
        rows = [
            (a, b)
            for a, b, m in zip(self.labels, self.predictions, self.methods, strict=True)
            if m == method
        ]
        right = sum(1 for a, b in rows if a is b)
        return len(rows), (right / len(rows) if rows else 0.0)


@dataclass(frozen=True)
class RoutingReport:
    data: str
    questions: int
    embedding_model: str
    classifier: str
    min_score: float
    min_margin: float
    # The learned classifier's least confidence, when the router has one.
    min_confidence: float | None
    results: tuple[SystemResult, ...]
    misrouted: tuple[tuple[LabelledQuestion, QueryType, str], ...] = field(default=())

    def to_markdown(self) -> str:
        counts = Counter(q for q in self.results[0].labels)
        lines = [
            f"Set `{self.data}`: {self.questions} questions "
            f"({', '.join(f'{r.value} {counts[r]}' for r in ROUTES)}); embeddings "
            f"{self.embedding_model}; {self._how()}; model when unsure: {self.classifier}.",
            "",
            "| system | accuracy | rag | general | mcp_tool | needed the model | ms/question |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in self.results:
            # Every question the semantic stage was unsure of needed the model, whoever settled it.
            model = f"{1 - r.share('semantic'):.1%}" if r.methods else "-"
            per_route = " | ".join(f"{r.route_accuracy(route):.1%}" for route in ROUTES)
            ms = 1000 * r.seconds / len(r.labels)
            lines.append(f"| {r.name} | {r.accuracy:.1%} | {per_route} | {model} | {ms:.1f} |")
        router = self.results[0]
        lines.append("")
        for method in ("semantic", "model", "guess", "rules"):
            decided, right = router.accuracy_by(method)
            if decided:
                lines.append(
                    f"- decided by {method}: {decided} ({decided / len(router.labels):.1%}), "
                    f"{right:.1%} of them right"
                )
        for result in (router, self.results[-1]):
            lines += ["", f"Confusion, {result.name} (rows: label, columns: routed to):", ""]
            lines += _confusion_table(result)
        if self.misrouted:
            lines += ["", "Misrouted by the router:", ""]
            lines += [
                f"- `{q.id}` {q.text!r}: {q.route.value} routed to {got.value} ({how})"
                for q, got, how in self.misrouted
            ]
        return "\n".join(lines) + "\n"

    def _how(self) -> str:
        if self.min_confidence is not None:
            return f"learned classifier, min_confidence {self.min_confidence:.4f}"
        return (
            f"nearest examples (no classifier for this model), min_score {self.min_score:.2f}, "
            f"min_margin {self.min_margin:.2f}"
        )


def _confusion_table(result: SystemResult) -> list[str]:
    confusion = result.confusion()
    lines = [
        "| label \\ routed | " + " | ".join(r.value for r in ROUTES) + " |",
        "| --- | " + " | ".join("---:" for _ in ROUTES) + " |",
    ]
    for label in ROUTES:
        cells = " | ".join(str(confusion[(label, routed)]) for routed in ROUTES)
        lines.append(f"| {label.value} | {cells} |")
    return lines


async def evaluate(
    questions: Sequence[LabelledQuestion],
    router: QueryRouter,
    *,
    classifier: Classifier | None,
    classifier_name: str,
    embeddings_name: str,
    data_name: str,
) -> RoutingReport:
    """Route every question by the router, the classifier alone (when the router has one),
    the nearest route and the rules."""
    labels = tuple(q.route for q in questions)
    router.example_vectors()  # embedded before the clock starts, as a warm process has them
    learned = router.classifier()
    started = time.perf_counter()
    decisions = [await router.route(q.text, classifier) for q in questions]
    router_seconds = time.perf_counter() - started
    alone: tuple[SystemResult, ...] = ()
    if learned is not None:
        started = time.perf_counter()
        best = tuple(ranked(router.probabilities(q.text))[0] for q in questions)
        seconds = time.perf_counter() - started
        name = "classifier's best route only (no model, no rules)"
        alone = (SystemResult(name, labels, best, (), seconds),)
    started = time.perf_counter()
    nearest = tuple(ranked(router.scores(q.text))[0] for q in questions)
    nearest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rules = tuple(determine_query_type(q.text) for q in questions)
    rules_seconds = time.perf_counter() - started
    routed = SystemResult(
        "router: semantic, then model when unsure",
        labels,
        tuple(d.query_type for d in decisions),
        tuple(d.method for d in decisions),
        router_seconds,
    )
    results = (
        routed,
        *alone,
        SystemResult(
            "nearest route only (no thresholds, no model)", labels, nearest, (), nearest_seconds
        ),
        SystemResult("keyword rules alone (baseline)", labels, rules, (), rules_seconds),
    )
    misrouted = tuple(
        (q, d.query_type, f"{d.method}, score {d.score:.2f}, margin {d.margin:.2f}")
        for q, d in zip(questions, decisions, strict=True)
        if d.query_type is not q.route
    )
    return RoutingReport(
        data=data_name,
        questions=len(questions),
        embedding_model=embeddings_name,
        classifier=classifier_name,
        min_score=router.min_score,
        min_margin=router.min_margin,
        min_confidence=learned.min_confidence if learned is not None else None,
        results=results,
        misrouted=misrouted,
    )


@dataclass(frozen=True)
class Threshold:
    min_score: float
    min_margin: float
    # Share of questions the router decides alone, and the share of those it gets right.
    coverage: float
    precision: float


def threshold_grid(questions: Sequence[LabelledQuestion], router: QueryRouter) -> list[Threshold]:
    """Coverage and precision of the semantic stage at every pair of the grid."""
    ranked_scores = [ranked(router.scores(q.text)) for q in questions]
    grid = []
    for min_score in SCORE_GRID:
        for min_margin in MARGIN_GRID:
            decided = [
                (best is q.route)
                for q, (best, score, margin) in zip(questions, ranked_scores, strict=True)
                if score >= min_score and margin >= min_margin
            ]
            coverage = len(decided) / len(questions)
            precision = sum(decided) / len(decided) if decided else 1.0
            grid.append(Threshold(min_score, min_margin, coverage, precision))
    return grid


def choose_threshold(grid: Sequence[Threshold]) -> Threshold:
    """The pair that lets the router decide most questions alone at the target precision
    (ties: the stricter pair, the safer with questions unlike the tuning set's)."""
    good = [t for t in grid if t.precision >= TARGET_PRECISION and t.coverage > 0]
    if not good:
        return max(grid, key=lambda t: (t.precision, t.coverage))
    return max(good, key=lambda t: (t.coverage, t.precision, t.min_margin, t.min_score))


def tuning_markdown(data_name: str, grid: Sequence[Threshold], chosen: Threshold) -> str:
    margins = MARGIN_GRID[::3]
    lines = [
        f"Tuning set `{data_name}`: coverage (share decided without the model) / precision "
        "(share of those right), by min_score (rows) and min_margin (columns).",
        "",
        "| min_score | " + " | ".join(f"{m:.2f}" for m in margins) + " |",
        "| --- | " + " | ".join("---:" for _ in margins) + " |",
    ]
    table = {(t.min_score, t.min_margin): t for t in grid}
    for min_score in SCORE_GRID:
        cells = [table[(min_score, m)] for m in margins]
        lines.append(
            f"| {min_score:.2f} | "
            + " | ".join(f"{t.coverage:.0%} / {t.precision:.0%}" for t in cells)
            + " |"
        )
    lines += [
        "",
        f"Chosen (most coverage at precision >= {TARGET_PRECISION:.0%}): min_score "
        f"{chosen.min_score:.2f}, min_margin {chosen.min_margin:.2f}: coverage "
        f"{chosen.coverage:.1%}, precision {chosen.precision:.1%}.",
    ]
    return "\n".join(lines) + "\n"


def append_result(text: str, output: Path, *, when: datetime) -> None:
    """Append a report to a Markdown log, headed by the date and the machine."""
    append_section(
        output, text, title="Routing evaluation", command="chatbot eval routing", when=when
    )


def _classifier(name: str) -> Classifier | None:
    if name == "none":
        return None
    if name == "offline":
        from chatbot.engine.offline_model import OfflineModel

        return model_classifier(OfflineModel(route="router"))
    from chatbot.config import Settings

    return model_classifier(classifier_model(Settings()))


def main(
    argv: Sequence[str] | None = None,
    *,
    embeddings: Callable[[], Embeddings] | None = None,
) -> int:
    """The command line. ``embeddings`` makes the model; by default the local all-MiniLM-L6-v2,
    whatever the environment, so the figures are of the model that runs offline."""
    parser = argparse.ArgumentParser(
        prog="chatbot eval routing", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--data", type=Path, help="labelled questions (JSONL)")
    parser.add_argument(
        "--classifier",
        choices=("none", "offline", "configured"),
        default="none",
        help="the model asked when the router is unsure: none (as the engine runs offline: a "
        "matching keyword rule, else the classifier's best route), the offline model (it "
        "answers by the keyword rules) or the one CHATBOT_MODEL configures",
    )
    parser.add_argument(
        "--nearest",
        action="store_true",
        help="route by the nearest examples, as where no classifier was trained for the model",
    )
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE)
    parser.add_argument("--min-margin", type=float, default=DEFAULT_MIN_MARGIN)
    parser.add_argument(
        "--tune", action="store_true", help="search the thresholds (default data: tune.jsonl)"
    )
    parser.add_argument("--output", type=Path, help="append the report to this Markdown file")
    options = parser.parse_args(argv)
    data = options.data or (TUNE_DATA if options.tune else DEFAULT_DATA)
    try:
        questions = load_routing_set(data)
    except (OSError, RoutingSetError) as error:
        sys.stderr.write(f"cannot read the routing set: {error}\n")
        return 2
    if embeddings is None:
        from chatbot.adapters.local.embeddings import LocalEmbeddings

        embeddings = LocalEmbeddings
    try:
        model = embeddings()
        router = QueryRouter(
            model,
            min_score=options.min_score,
            min_margin=options.min_margin,
            classifier="none" if options.nearest else "shipped",
        )
        if options.tune:
            grid = threshold_grid(questions, router)
            text = tuning_markdown(_relative(data), grid, choose_threshold(grid))
        else:
            report = asyncio.run(
                evaluate(
                    questions,
                    router,
                    classifier=_classifier(options.classifier),
                    classifier_name=_CLASSIFIER_NAMES[options.classifier],
                    embeddings_name=model.model_id,
                    data_name=_relative(data),
                )
            )
            text = report.to_markdown()
    except ModelUnavailableError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    sys.stdout.write(text)
    if options.output is not None:
        append_result(text, options.output, when=SystemClock().now())
    return 0


_CLASSIFIER_NAMES: Final = {
    "offline": "the offline model (it answers by the keyword rules)",
    "configured": "the model CHATBOT_MODEL configures",
    "none": "none (offline: a matching keyword rule, else the classifier's best route)",
}


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(DATA_DIR.parents[2]))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
