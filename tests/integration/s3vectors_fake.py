"""An Amazon S3 Vectors index in memory behind a real boto3 ``s3vectors`` client.

The client is boto3's own (no network: a ``before-call`` handler answers every request, as
botocore's Stubber does), so every request is validated by botocore against the service
model before it reaches the fake, and every response the fake gives is validated against the
operation's output shape before the adapter sees it. On top of the model, the fake enforces
the service limits the model does not state (topK 100, 2 KB of filterable metadata, 40 KB in
all, the index's dimension, filters only on filterable keys, text queries only on searchable
keys of an ENHANCED index).

What is the service's and only imitated here: the BM25 ranking of ``queryTexts`` (the real
analyzer, statistics and the way several keys combine are Amazon's; here: a small English
analyzer, Okapi BM25 with k1 = 1.2 and b = 0.75 per key, hits ordered by the sum over keys),
and vector search, which is exact here and approximate in the service.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import numpy as np
import numpy.typing as npt
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.validate import validate_parameters

from chatbot.adapters.aws import s3vectors_index as spec
from chatbot.keyword_terms import STOP_WORDS

BUCKET = "chatbot-test-vectors"
INDEX = "documents"
_TERM = re.compile(r"[^\W_]+")
_SUFFIXES = ("ing", "ed", "es", "s")


def analyze(text: str) -> list[str]:
    """The fake's English analyzer: words, casefolded, stop words out, a crude stemmer."""
    terms: list[str] = []
    for word in _TERM.findall(text.casefold()):
        if word in STOP_WORDS:
            continue
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        terms.append(word)
    return terms


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class FakeIndex:
    dimension: int
    distance_metric: str = spec.DISTANCE_METRIC
    non_filterable: frozenset[str] = frozenset(spec.NON_FILTERABLE_KEYS)
    searchable: frozenset[str] = frozenset(spec.TEXT_SEARCH_WEIGHTS)
    mode: str = spec.INDEX_MODE
    vectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What a search engine keeps beside the vectors, so that a query does not re-read the
    # index: each vector's analyzed searchable keys, and (rebuilt after a write) the matrix
    # of unit vectors and each key's document frequencies.
    terms: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    _matrix: tuple[list[str], npt.NDArray[np.float64]] | None = None
    _statistics: dict[str, tuple[int, float, Counter[str]]] = field(default_factory=dict)

    def write(self, key: str, vector: dict[str, Any] | None) -> None:
        """Put (or with ``None`` delete) one vector; a replaced key moves to the end."""
        self.vectors.pop(key, None)
        self.terms.pop(key, None)
        if vector is not None:
            self.vectors[key] = vector
            metadata = vector.get("metadata", {})
            self.terms[key] = {
                name: Counter(analyze(str(metadata.get(name, "")))) for name in self.searchable
            }
        self._matrix = None
        self._statistics.clear()

    def matrix(self) -> tuple[list[str], npt.NDArray[np.float64]]:
        if self._matrix is None:
            keys = list(self.vectors)
            rows = np.array(
                [self.vectors[key]["data"]["float32"] for key in keys], dtype=np.float64
            ).reshape(len(keys), self.dimension)
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            self._matrix = keys, rows / np.where(norms == 0, 1.0, norms)
        return self._matrix

    def statistics(self, name: str) -> tuple[int, float, Counter[str]]:
        """Over the whole index, as a search engine keeps them (not a filtered set): the
        number of vectors, the average length of ``name`` in terms, and its term's
        document frequencies."""
        if name not in self._statistics:
            frequencies: Counter[str] = Counter()
            total = 0
            for terms in self.terms.values():
                frequencies.update(terms[name].keys())
                total += sum(terms[name].values())
            count = len(self.terms)
            self._statistics[name] = (count, total / max(count, 1) or 1.0, frequencies)
        return self._statistics[name]


class FakeS3Vectors:
    """``client`` is a boto3 s3vectors client whose requests this object answers."""

    def __init__(self, dimension: int, *, list_page_limit: int | None = None) -> None:
        request = spec.create_index_request(BUCKET, INDEX, dimension)
        self.index = FakeIndex(dimension)
        assert set(request["metadataConfiguration"]["nonFilterableMetadataKeys"]) == set(
            self.index.non_filterable
        )
        # Pages shorter than maxResults, as the service's 1 MB page cap makes them.
        self.list_page_limit = list_page_limit
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: list[tuple[str, str]] = []
        self.client = boto3.client(
            "s3vectors",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        events = self.client.meta.events
        events.register_first("before-parameter-build.s3vectors.*", self._keep_params)
        events.register("before-call.s3vectors.*", self._answer)

    def fail_next(self, operation: str, code: str, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (e.g. "PutVectors") answer ``code``."""
        self._failures.extend([(operation, code)] * times)

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    # --- the botocore hooks -----------------------------------------------------------------

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fake_params"] = copy.deepcopy(params)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[Any, Any]:
        name: str = model.name
        params: dict[str, Any] = context["fake_params"]
        self.calls.append((name, params))
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "PutVectors": self._put,
            "DeleteVectors": self._delete,
            "GetVectors": self._get,
            "ListVectors": self._list,
            "QueryVectors": self._query,
        }
        try:
            failure = next((f for f in self._failures if f[0] == name), None)
            if failure is not None:
                self._failures.remove(failure)
                code = failure[1]
                raise ServiceError(code, "injected failure", 503 if "Unavailable" in code else 429)
            self._check_target(params)
            body = handlers[name](params)
        except ServiceError as error:
            parsed = {
                "Error": {"Code": error.code, "Message": error.message},
                "ResponseMetadata": {"HTTPStatusCode": error.status},
            }
            return AWSResponse(None, error.status, {}, None), parsed
        # The response must be one the real service could send.
        validate_parameters(body, model.output_shape)
        return AWSResponse(None, 200, {}, None), {
            **body,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    def _check_target(self, params: dict[str, Any]) -> None:
        if params.get("vectorBucketName") != BUCKET or params.get("indexName") != INDEX:
            raise ServiceError("NotFoundException", "no such index", 404)

    # --- the operations ---------------------------------------------------------------------

    def _put(self, params: dict[str, Any]) -> dict[str, Any]:
        keys = [vector["key"] for vector in params["vectors"]]
        if len(set(keys)) != len(keys):
            raise ServiceError("ValidationException", "duplicate keys in one request")
        for vector in params["vectors"]:
            data = vector["data"]["float32"]
            if len(data) != self.index.dimension:
                raise ServiceError("ValidationException", "dimension mismatch")
            metadata = vector.get("metadata", {})
            filterable = {k: v for k, v in metadata.items() if k not in self.index.non_filterable}
            if _size(filterable) > spec.MAX_FILTERABLE_METADATA_BYTES:
                raise ServiceError("ValidationException", "filterable metadata over 2 KB")
            if _size(metadata) > spec.MAX_METADATA_BYTES or len(metadata) > 50:
                raise ServiceError("ValidationException", "metadata over the limit")
        for vector in params["vectors"]:
            self.index.write(vector["key"], copy.deepcopy(vector))
        return {}

    def _delete(self, params: dict[str, Any]) -> dict[str, Any]:
        for key in params["keys"]:
            self.index.write(key, None)
        return {}

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [self.index.vectors[key] for key in params["keys"] if key in self.index.vectors]
        return {"vectors": [self._shown(vector, params) for vector in found]}

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        if "segmentCount" in params:
            raise ServiceError("ValidationException", "the fake lists one segment")
        start = int(params.get("nextToken", "0"))
        size = params.get("maxResults", 500)
        if self.list_page_limit is not None:
            size = min(size, self.list_page_limit)
        keys = list(self.index.vectors)
        page = keys[start : start + size]
        body: dict[str, Any] = {
            "vectors": [self._shown(self.index.vectors[key], params) for key in page]
        }
        if start + size < len(keys):
            body["nextToken"] = str(start + size)
        return body

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        top_k = params["topK"]
        if top_k > spec.MAX_TOP_K:
            raise ServiceError("ValidationException", f"topK over {spec.MAX_TOP_K}")
        if "filter" in params:
            self._holds(params["filter"], {})  # refuses a filter on a non-filterable key
        candidates = [v for v in self.index.vectors.values() if self._matches(v, params)]
        vector = params.get("queryVector")
        texts = params.get("queryTexts")
        if vector is None and texts is None:
            raise ServiceError("ValidationException", "queryVector or queryTexts is required")
        # Our adapter fuses rankings itself; the service's hybrid (RRF) is not imitated.
        assert not (vector and texts), "the adapter never asks for the service's hybrid ranking"
        if vector is not None:
            hits = self._nearest(vector["float32"], candidates)
        else:
            hits = self._bm25(texts, candidates)
        shown = []
        for found, extra in hits[:top_k]:
            item = self._shown(found, {"returnMetadata": params.get("returnMetadata")})
            if vector is not None and params.get("returnDistance"):
                item["distance"] = extra
            if texts is not None and params.get("returnScores"):
                item["scores"] = {"bm25Scores": extra}
            shown.append(item)
        return {"vectors": shown, "distanceMetric": self.index.distance_metric}

    def _nearest(
        self, query: list[float], candidates: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], float]]:
        if len(query) != self.index.dimension:
            raise ServiceError("ValidationException", "query dimension mismatch")
        keys, matrix = self.index.matrix()
        if not keys:
            return []
        vector = np.array(query, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        similarity = matrix @ (vector / norm) if norm else np.zeros(len(keys))
        allowed = {found["key"] for found in candidates}
        order = np.argsort(1.0 - similarity, kind="stable")
        return [
            (self.index.vectors[keys[row]], float(1.0 - similarity[row]))
            for row in order
            if keys[row] in allowed
        ]

    def _bm25(
        self, texts: list[dict[str, str]], candidates: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        if self.index.mode != "ENHANCED":
            raise ServiceError("ValidationException", "full-text search needs ENHANCED mode")
        keys = [text["metadataKey"] for text in texts]
        if len(set(keys)) != len(keys) or not set(keys) <= self.index.searchable:
            raise ServiceError("ValidationException", "queryTexts on unsearchable or repeated keys")
        scores: dict[str, list[dict[str, Any]]] = {}
        for text in texts:
            key, terms = text["metadataKey"], set(analyze(text["text"]))
            count, average, frequencies = self.index.statistics(key)
            for found in candidates:
                words = self.index.terms[found["key"]][key]
                length = sum(words.values())
                score = 0.0
                for term in terms:
                    frequency = words[term]
                    if not frequency:
                        continue
                    n = frequencies[term]
                    idf = math.log(1 + (count - n + 0.5) / (n + 0.5))
                    norm = frequency + 1.2 * (1 - 0.75 + 0.75 * length / average)
                    score += idf * frequency * 2.2 / norm
                if score > 0:
                    scores.setdefault(found["key"], []).append({"metadataKey": key, "score": score})
        by_key = {found["key"]: found for found in candidates}
        order = sorted(scores, key=lambda k: -sum(s["score"] for s in scores[k]))
        return [(by_key[key], scores[key]) for key in order]

    def _matches(self, found: dict[str, Any], params: dict[str, Any]) -> bool:
        condition = params.get("filter")
        if condition is None:
            return True
        return self._holds(condition, found.get("metadata", {}))

    def _holds(self, condition: dict[str, Any], metadata: dict[str, Any]) -> bool:
        results = []
        for key, test in condition.items():
            if key == "$and":
                results.append(all(self._holds(part, metadata) for part in test))
                continue
            if key in self.index.non_filterable:
                raise ServiceError("ValidationException", f"{key} is not filterable")
            value = metadata.get(key)
            if isinstance(test, dict):
                ((operator, operand),) = test.items()
                if operator == "$eq":
                    results.append(value == operand)
                elif operator == "$in":
                    results.append(value in operand)
                else:
                    raise ServiceError("ValidationException", f"the fake has no {operator}")
            else:
                results.append(value == test)
        return all(results)

    @staticmethod
    def _shown(vector: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {"key": vector["key"]}
        if params.get("returnData"):
            item["data"] = copy.deepcopy(vector["data"])
        if params.get("returnMetadata"):
            item["metadata"] = copy.deepcopy(vector.get("metadata", {}))
        return item


def _size(metadata: dict[str, Any]) -> int:
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
