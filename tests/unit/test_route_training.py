"""Training the router's classifier: deterministic, learns the routes, asks about the unsure."""

from __future__ import annotations

import math
import random

from chatbot.engine.router import keyword_route
from chatbot.evaluation.route_training import (
    ASK_SHARE,
    Example,
    data_fingerprint,
    fold_of,
    train,
)
from chatbot.records import QueryType

ROUTES = (QueryType.RAG, QueryType.GENERAL, QueryType.MCP_TOOL)
WIDTH = 8


def labelled(count: int, seed: int) -> tuple[list[Example], list[list[float]]]:
    """Messages whose vectors point near their route's axis, with some noise; a few lie
    halfway between two routes, so some are unsure."""
    generator = random.Random(seed)
    examples, vectors = [], []
    for n in range(count):
        route = ROUTES[n % 3]
        vector = [generator.gauss(0.0, 0.15) for _ in range(WIDTH)]
        vector[n % 3] += 1.0
        if n % 10 == 0:
            vector[(n + 1) % 3] += 0.9
        norm = math.sqrt(sum(x * x for x in vector))
        vectors.append([x / norm for x in vector])
        examples.append(Example(f"message {n}", route, tuning=n % 2 == 0))
    return examples, vectors


def test_training_is_deterministic_and_learns_the_routes() -> None:
    examples, vectors = labelled(150, seed=7)
    rules = [keyword_route(example.text) for example in examples]
    first, validation = train(examples, vectors, rules, model_id="fake", dimensions=WIDTH)
    again, _ = train(examples, vectors, rules, model_id="fake", dimensions=WIDTH)
    assert first == again
    assert validation.accuracy >= 0.85
    right = 0
    for example, vector in zip(examples, vectors, strict=True):
        probabilities = first.probabilities(vector, example.text)
        right += max(probabilities, key=probabilities.__getitem__) is example.route
    assert right / len(examples) >= 0.9


def test_the_threshold_sends_about_the_ask_share_of_tuning_questions_to_the_model() -> None:
    examples, vectors = labelled(300, seed=3)
    rules = [keyword_route(example.text) for example in examples]
    classifier, validation = train(examples, vectors, rules, model_id="fake", dimensions=WIDTH)
    assert abs(validation.asked - ASK_SHARE) <= 0.02
    assert classifier.min_confidence == validation.min_confidence
    # The confident are right more often than the whole.
    assert validation.confident_precision >= validation.accuracy


def test_the_data_fingerprint_follows_labels_texts_and_sides() -> None:
    examples, _ = labelled(30, seed=1)
    base = data_fingerprint(examples)
    relabelled = [Example(examples[0].text, QueryType.GENERAL, examples[0].tuning), *examples[1:]]
    moved = [Example(examples[0].text, examples[0].route, not examples[0].tuning), *examples[1:]]
    assert len({base, data_fingerprint(relabelled), data_fingerprint(moved)}) == 3
    assert data_fingerprint(list(examples)) == base


def test_folds_come_from_the_text_not_the_order() -> None:
    assert fold_of("What does the handbook say?") == fold_of("What does the handbook say?")
    assert len({fold_of(f"question {n}") for n in range(100)}) == 5
