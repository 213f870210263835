"""The router's learned classifier: a linear model over a message's embedding and keyword hits.

Softmax regression with one row of weights per route over two kinds of feature: the
message's sentence embedding (the same vector the document search uses) and one 0/1 feature
per keyword rule of ``chatbot.engine.router`` (does the message name a record id, the
documents, the company's own facts...). The embedding carries what a question is about, the
rules carry the few words that decide a route outright; together they route better than
either (bench/results/routing-eval.md).

The weights are trained by ``scripts/train_router.py`` (numpy, on the router's examples and
the tuning set, never the held-out set) and shipped as data, one JSON file per embedding
model under ``route_classifier/``. Predicting is a few thousand multiply-adds in plain Python:
numpy is not in the Lambda bundle and is not needed here.

A file is used only when it was trained for the running model, width and keyword rules (its
``key``): a classifier over other features would be noise. Without one the router falls back
to the nearest example questions, as before the classifier existed.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from chatbot.engine.router import KEYWORD_PATTERNS
from chatbot.records import QueryType

CLASSIFIER_PACKAGE: Final = "chatbot.engine"
CLASSIFIER_FOLDER: Final = "route_classifier"
SUFFIX: Final = ".json"
# Bump when the features change shape or meaning (not for new weights).
FEATURES_VERSION: Final = 1
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


class RouteClassifierError(ValueError):
    """A classifier file is malformed."""


def keyword_features(message: str) -> list[float]:
    """One feature per keyword rule: 1.0 when the rule matches the message."""
    return [1.0 if pattern.search(message) else 0.0 for pattern in KEYWORD_PATTERNS]


def features_fingerprint() -> str:
    """What the features are: their version and the keyword rules' own text."""
    digest = hashlib.sha256(f"v{FEATURES_VERSION}".encode())
    for pattern in KEYWORD_PATTERNS:
        digest.update(b"\x00" + pattern.pattern.encode() + f"/{pattern.flags}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ClassifierKey:
    """What a trained classifier is valid for."""

    model_id: str
    dimensions: int
    features_sha256: str

    @classmethod
    def current(cls, model_id: str, dimensions: int) -> ClassifierKey:
        return cls(model_id, dimensions, features_fingerprint())


@dataclass(frozen=True)
class RouteClassifier:
    """Trained weights (one row per route over embedding + keyword features) and the least
    probability at which the router trusts the best route without asking the model."""

    key: ClassifierKey
    routes: tuple[QueryType, ...]
    weights: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...]
    min_confidence: float
    # Where the weights came from (data fingerprint, counts, cross-validated figures): shown
    # by the training script and checked by a test, never used to predict.
    provenance: dict[str, object]

    def probabilities(self, vector: Sequence[float], message: str) -> dict[QueryType, float]:
        """Each route's probability for a message with embedding ``vector``."""
        features = [*vector, *keyword_features(message)]
        if len(features) != len(self.weights[0]):
            raise RouteClassifierError(
                f"{len(features)} features where the weights expect {len(self.weights[0])}"
            )
        scores = [
            sum(map(operator.mul, row, features)) + bias
            for row, bias in zip(self.weights, self.bias, strict=True)
        ]
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        return {route: e / total for route, e in zip(self.routes, exps, strict=True)}

    def to_json(self) -> str:
        document = {
            "model_id": self.key.model_id,
            "dimensions": self.key.dimensions,
            "features_sha256": self.key.features_sha256,
            "routes": [route.value for route in self.routes],
            "min_confidence": self.min_confidence,
            "provenance": self.provenance,
            "bias": [round(b, 6) for b in self.bias],
            "weights": [[round(w, 6) for w in row] for row in self.weights],
        }
        return json.dumps(document, indent=None, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RouteClassifier:
        try:
            data = json.loads(text)
            key = ClassifierKey(
                str(data["model_id"]), int(data["dimensions"]), str(data["features_sha256"])
            )
            routes = tuple(QueryType(route) for route in data["routes"])
            weights = tuple(tuple(float(w) for w in row) for row in data["weights"])
            bias = tuple(float(b) for b in data["bias"])
            min_confidence = float(data["min_confidence"])
            provenance = dict(data.get("provenance", {}))
        except (KeyError, TypeError, ValueError) as error:
            raise RouteClassifierError(f"not a route classifier: {error}") from error
        width = key.dimensions + len(KEYWORD_PATTERNS)
        if len(routes) != len(weights) or len(bias) != len(routes) or set(routes) != set(QueryType):
            raise RouteClassifierError("one row of weights and one bias per route")
        if any(len(row) != width for row in weights):
            raise RouteClassifierError(f"each row of weights needs {width} values")
        return cls(key, routes, weights, bias, min_confidence, provenance)


def file_name(model_id: str) -> str:
    return _UNSAFE.sub("_", model_id) + SUFFIX


def shipped_folder() -> Traversable:
    return resources.files(CLASSIFIER_PACKAGE) / CLASSIFIER_FOLDER


def load_shipped(
    key: ClassifierKey, folder: Traversable | Path | None = None
) -> RouteClassifier | None:
    """The shipped classifier trained for ``key``, or None when there is none."""
    path = (folder if folder is not None else shipped_folder()) / file_name(key.model_id)
    if not path.is_file():
        return None
    classifier = RouteClassifier.from_json(path.read_text(encoding="utf-8"))
    return classifier if classifier.key == key else None
