"""Does the RAG path say "not in the documents" when they do not answer? RAG_MIN_SCORE, measured.

The RAG path answers from the chunks whose embedding's cosine with the question reaches
``RAG_MIN_SCORE`` (vector search thresholds the cosine; hybrid search thresholds the same
cosine before fusion, ``chatbot.adapters.local.documents``), and gives the "not in the
documents" answer when no chunk does. So whether a question is refused depends only on its
best cosine over the corpus, in either mode. For every question of a labelled set:

answer rate
    of the answerable questions, the share whose best cosine reaches the threshold (the
    model is given something to answer from);
grounded rate
    of the answerable questions, the share with a relevant passage among the ``RAG_TOP_K``
    chunks the model would be given (a relevant passage ranked there, at or above it);
refusal rate
    of the unanswerable questions (``unanswerable.jsonl``), the share whose best cosine is
    below it: the "not in the documents" answer instead of an invented one.

The threshold is chosen on the tuning split (``chatbot.evaluation.splits``) of every corpus
at once, as the one setting serves them all: the best mean of answer rate and refusal rate
(ties to the lower threshold), and reported on the held-out split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from chatbot.evaluation.metrics import mean
from chatbot.evaluation.splits import Split, split_of

# Thresholds tried: every hundredth from 0 to 0.8 (MiniLM's cosines of a question and its
# answer rarely pass 0.8).
THRESHOLDS: Final = tuple(round(step / 100, 2) for step in range(81))


@dataclass(frozen=True)
class Sample:
    """One question: its corpus, id, whether it has an answer, its best cosine over the
    corpus, and the best cosine of a relevant passage within the top ``k`` (None: none
    there, or unanswerable)."""

    corpus: str
    query_id: str
    answerable: bool
    best_cosine: float
    relevant_cosine: float | None

    @property
    def split(self) -> Split:
        return split_of(self.query_id)


@dataclass(frozen=True)
class Rates:
    threshold: float
    answered: float
    grounded: float
    refused: float
    answerable: int
    unanswerable: int

    @property
    def balance(self) -> float:
        return (self.answered + self.refused) / 2


def samples(
    corpus: str,
    matrix: npt.NDArray[np.float32],
    query_ids: Sequence[str],
    query_vectors: npt.NDArray[np.float32],
    relevant_rows: Sequence[Sequence[int]] | None,
    *,
    top_k: int,
) -> list[Sample]:
    """``matrix`` holds the corpus's unit vectors (rows), ``query_vectors`` the questions'
    (rows, in ``query_ids`` order); ``relevant_rows`` the rows relevant to each question, or
    None for unanswerable questions."""
    norms = np.linalg.norm(query_vectors, axis=1, keepdims=True)
    cosines = matrix @ (query_vectors / np.where(norms == 0, 1, norms)).T
    found: list[Sample] = []
    for column, query_id in enumerate(query_ids):
        scores = cosines[:, column]
        best = float(scores.max()) if len(scores) else -1.0
        relevant_cosine = None
        if relevant_rows is not None:
            top = set(np.argsort(-scores, kind="stable")[:top_k].tolist())
            hits = [float(scores[row]) for row in relevant_rows[column] if row in top]
            relevant_cosine = max(hits) if hits else None
        found.append(Sample(corpus, query_id, relevant_rows is not None, best, relevant_cosine))
    return found


def rates(chosen: Sequence[Sample], threshold: float) -> Rates:
    answerable = [s for s in chosen if s.answerable]
    unanswerable = [s for s in chosen if not s.answerable]
    return Rates(
        threshold=threshold,
        answered=mean([1.0 if s.best_cosine >= threshold else 0.0 for s in answerable]),
        grounded=mean(
            [
                1.0 if s.relevant_cosine is not None and s.relevant_cosine >= threshold else 0.0
                for s in answerable
            ]
        ),
        refused=mean([1.0 if s.best_cosine < threshold else 0.0 for s in unanswerable]),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
    )


def choose_threshold(tuning: Sequence[Sample]) -> float:
    """The threshold of the best balance of answer and refusal rates; ties to the lower."""
    best = max(THRESHOLDS, key=lambda t: (round(rates(tuning, t).balance, 9), -t))
    return best


def to_markdown(all_samples: Sequence[Sample], current: float) -> str:
    """Per corpus and split, the rates at the current and at the chosen threshold."""
    tuning = [s for s in all_samples if s.split == "tuning"]
    chosen = choose_threshold(tuning)
    lines = [
        f"Refusal: RAG_MIN_SCORE chosen on the tuning split of every corpus: **{chosen:.2f}** "
        f"(current default {current:.2f}); the best mean of answer and refusal rates.",
        "",
        "| corpus | split | RAG_MIN_SCORE | answered | grounded | refused | answerable "
        "| unanswerable |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    corpora = list(dict.fromkeys(s.corpus for s in all_samples))
    for corpus in [*corpora, "all"]:
        for split in ("tuning", "held-out"):
            kept = [s for s in all_samples if s.split == split and corpus in ("all", s.corpus)]
            for threshold in dict.fromkeys((current, chosen)):
                r = rates(kept, threshold)
                lines.append(
                    f"| {corpus} | {split} | {threshold:.2f} | {r.answered:.3f} | "
                    f"{r.grounded:.3f} | {r.refused:.3f} | {r.answerable} | {r.unanswerable} |"
                )
    return "\n".join(lines) + "\n"
