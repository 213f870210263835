"""Training the router's classifier (``chatbot.engine.route_classifier``) on the tuning side.

The training set is the router's example questions (``route_examples.yaml``) and the tuning
set (``tests/data/routing/tune.jsonl``); the held-out set (``routing.jsonl``) is never read
here. Softmax regression, full batch gradient descent from zero weights, so a run on the same
vectors gives the same weights. ``min_confidence``, the probability below which the router
asks the model, is chosen by 5-fold cross-validation on the tuning questions: the level that
would have sent ``ASK_SHARE`` of them to the model. A question falls in a fold by a hash of
its text, so the folds do not depend on the order of the files.

numpy is imported here only: it comes with the local embedding model's packages
(requirements-local.txt), and neither the engine nor the Lambda bundle needs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from chatbot.engine.route_classifier import (
    ClassifierKey,
    RouteClassifier,
    features_fingerprint,
    keyword_features,
)
from chatbot.records import QueryType

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

ROUTES: Final = (QueryType.RAG, QueryType.GENERAL, QueryType.MCP_TOOL)
# The share of tuning questions the router would have asked the model about. The issue's
# budget is 10 %; 8 % leaves room for questions less like the tuning set's.
ASK_SHARE: Final = 0.08
FOLDS: Final = 5
# Gradient descent: the embedding is scaled up so that its unit-length vectors and the 0/1
# keyword features train at a like pace; a little L2 keeps rare words from dominating.
EMBEDDING_SCALE: Final = 4.0
L2: Final = 1e-3
STEPS: Final = 2000
LEARNING_RATE: Final = 2.0


@dataclass(frozen=True)
class Example:
    """One labelled training message; ``tuning`` marks the tuning set's (not the examples')."""

    text: str
    route: QueryType
    tuning: bool


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold figures on the tuning questions."""

    accuracy: float
    asked: float
    confident_precision: float
    # Among the unsure: the classifier's best route, the keyword rules (general where none
    # matches), and what the router does offline (a matching rule, else the best route).
    guess_accuracy: float
    rules_accuracy: float
    fallback_accuracy: float
    # Every tuning question routed as the router does offline.
    routed_accuracy: float
    min_confidence: float


def data_fingerprint(examples: Sequence[Example]) -> str:
    """What the weights were trained on: the labelled texts, the features and the settings."""
    digest = hashlib.sha256(features_fingerprint().encode())
    digest.update(f"{EMBEDDING_SCALE}/{L2}/{STEPS}/{LEARNING_RATE}/{ASK_SHARE}".encode())
    for example in examples:
        digest.update(f"\x00{example.route.value}\x00{int(example.tuning)}\x00".encode())
        digest.update(example.text.encode())
    return digest.hexdigest()


def fold_of(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % FOLDS


def feature_matrix(vectors: Sequence[Sequence[float]], texts: Sequence[str]) -> NDArray[np.float64]:
    import numpy as np

    embedding = np.asarray(vectors, dtype=np.float64) * EMBEDDING_SCALE
    keywords = np.asarray([keyword_features(text) for text in texts], dtype=np.float64)
    return np.hstack([embedding, keywords])


def _softmax(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    shifted: NDArray[np.float64] = np.exp(scores - scores.max(axis=1, keepdims=True))
    result: NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def fit(
    features: NDArray[np.float64], labels: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weights (features x routes) and biases, by gradient descent on the cross-entropy."""
    import numpy as np

    weights = np.zeros((features.shape[1], len(ROUTES)))
    bias = np.zeros(len(ROUTES))
    targets = np.eye(len(ROUTES))[labels]
    for _ in range(STEPS):
        error = _softmax(features @ weights + bias) - targets
        weights -= LEARNING_RATE * (features.T @ error / len(features) + L2 * weights)
        bias -= LEARNING_RATE * error.mean(axis=0)
    return weights, bias


def cross_validate(
    examples: Sequence[Example],
    features: NDArray[np.float64],
    rules: Sequence[QueryType | None],
) -> CrossValidation:
    """Out-of-fold probabilities for every training message, scored on the tuning ones."""
    import numpy as np

    labels = np.asarray([ROUTES.index(example.route) for example in examples])
    folds = np.asarray([fold_of(example.text) for example in examples])
    probabilities = np.zeros((len(examples), len(ROUTES)))
    for fold in range(FOLDS):
        held = folds == fold
        weights, bias = fit(features[~held], labels[~held])
        probabilities[held] = _softmax(features[held] @ weights + bias)
    tuning = np.asarray([example.tuning for example in examples])
    confidence = probabilities.max(axis=1)[tuning]
    guesses = [ROUTES[index] for index in probabilities.argmax(axis=1)]
    right = np.asarray([g is e.route for g, e in zip(guesses, examples, strict=True)])[tuning]
    min_confidence = float(np.quantile(confidence, ASK_SHARE))
    unsure = confidence < min_confidence
    pairs = list(zip(rules, guesses, examples, strict=True))
    rules_right = np.asarray([(rule or QueryType.GENERAL) is e.route for rule, _, e in pairs])
    fallback_right = np.asarray([(rule or guess) is e.route for rule, guess, e in pairs])
    routed_right = np.where(unsure, fallback_right[tuning], right)

    def share(values: NDArray[np.bool_]) -> float:
        return float(values.mean()) if values.size else 1.0

    return CrossValidation(
        accuracy=share(right),
        asked=share(unsure),
        confident_precision=share(right[~unsure]),
        guess_accuracy=share(right[unsure]),
        rules_accuracy=share(rules_right[tuning][unsure]),
        fallback_accuracy=share(fallback_right[tuning][unsure]),
        routed_accuracy=share(routed_right),
        min_confidence=round(min_confidence, 4),
    )


def train(
    examples: Sequence[Example],
    vectors: Sequence[Sequence[float]],
    rules: Sequence[QueryType | None],
    *,
    model_id: str,
    dimensions: int,
) -> tuple[RouteClassifier, CrossValidation]:
    """The classifier trained on every example, with the cross-validated ``min_confidence``."""
    import numpy as np

    texts = [example.text for example in examples]
    features = feature_matrix(vectors, texts)
    validation = cross_validate(examples, features, rules)
    labels = np.asarray([ROUTES.index(example.route) for example in examples])
    weights, bias = fit(features, labels)
    # The embedding's weights absorb its scale, so the runtime multiplies raw vectors.
    weights[:dimensions] *= EMBEDDING_SCALE
    classifier = RouteClassifier(
        key=ClassifierKey.current(model_id, dimensions),
        routes=ROUTES,
        weights=tuple(tuple(float(w) for w in weights[:, route]) for route in range(len(ROUTES))),
        bias=tuple(float(b) for b in bias),
        min_confidence=validation.min_confidence,
        provenance={
            "data_sha256": data_fingerprint(examples),
            "examples": sum(1 for example in examples if not example.tuning),
            "tuning_questions": sum(1 for example in examples if example.tuning),
            "cv_accuracy": round(validation.accuracy, 4),
            "cv_asked": round(validation.asked, 4),
            "cv_confident_precision": round(validation.confident_precision, 4),
            "cv_routed_accuracy": round(validation.routed_accuracy, 4),
        },
    )
    return classifier, validation
