"""The OpenSearch k-NN index of document chunks: its one definition, and its idempotent creation.

Every chunk of an ingested document is one OpenSearch document with these fields:

``embedding``
    ``knn_vector`` of the embedding model's dimension (Titan Text Embeddings v2: 1024).
``content``
    the chunk's text, analysed (``text``) so BM25 keyword search runs beside k-NN.
``title``
    the document's title, analysed (``text``): a keyword match on it is a strong signal.

Both text fields use ``TEXT_ANALYZER``: the standard tokenizer, lower case, accents folded,
Porter stemming, as the embedded index's FTS5 ``porter unicode61 remove_diacritics 2``
tokenizer does; stop words stay in the index and are dropped from the query
(``chatbot.keyword_terms``), on both backends. An index created before the analyzer keeps
its own (an analyzer cannot change in place): deploy with a new index name and re-ingest to
get stemming there.
``source``
    where the document came from (a path or URL), exact (``keyword``), for citations.
``document_id`` / ``chunk_id``
    the document's id and the chunk's id, exact (``keyword``), for re-ingestion and deletes.
``position``
    the chunk's order within its document (``integer``), to show neighbours in order.
``content_hash``
    a digest of ``content`` (``keyword``), so unchanged chunks are not embedded again.
``embedding_model``
    the embedding model (and width) of ``embedding`` (``keyword``): a chunk embedded by another
    model is embedded again by the next ingestion.
``ingested_at``
    when the chunk was written (``date``, ISO 8601).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from opensearchpy.exceptions import AuthorizationException, NotFoundError, RequestError

from chatbot.errors import ChatbotError

EMBEDDING_FIELD: Final = "embedding"
# Titan Text Embeddings v2 returns unit-length vectors (normalize=true, its default: the
# embedding adapter must keep it), so the inner product equals cosine similarity. faiss on
# OpenSearch Serverless supports innerproduct, and on unit vectors it ranks exactly as cosine
# would, without the engine normalising every vector again.
SPACE_TYPE: Final = "innerproduct"
# m=16, ef_construction=512 are what Amazon Bedrock Knowledge Bases create on OpenSearch
# Serverless for Titan vectors: high recall for corpora of this size at modest memory.
HNSW_M: Final = 16
HNSW_EF_CONSTRUCTION: Final = 512

# The analyzer of the text fields (see the module docstring).
TEXT_ANALYZER: Final = "chatbot_text"
_ANALYSIS: Final[dict[str, Any]] = {
    "analyzer": {
        TEXT_ANALYZER: {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding", "porter_stem"],
        }
    }
}
_ANALYSED: Final = frozenset({"content", "title"})

# Field name -> OpenSearch type, besides the vector; the RAG code queries by these names.
_SCALAR_FIELDS: Final[dict[str, str]] = {
    "content": "text",
    "title": "text",
    "source": "keyword",
    "document_id": "keyword",
    "chunk_id": "keyword",
    "position": "integer",
    "content_hash": "keyword",
    "embedding_model": "keyword",
    "ingested_at": "date",
}


class IndexMappingConflictError(ChatbotError):
    """The index exists with a mapping this code cannot query or extend in place."""

    retryable = False


class IndicesApi(Protocol):
    """The part of opensearch-py's ``IndicesClient`` this module uses."""

    def get_mapping(self, *, index: str) -> Any: ...

    def create(self, *, index: str, body: Any) -> Any: ...

    def put_mapping(self, *, index: str, body: Any) -> Any: ...


class SearchClient(Protocol):
    """An opensearch-py ``OpenSearch`` client, or a fake with the same ``indices`` calls."""

    @property
    def indices(self) -> IndicesApi: ...


def embedding_mapping(dimensions: int) -> dict[str, Any]:
    return {
        "type": "knn_vector",
        "dimension": dimensions,
        "method": {
            "name": "hnsw",
            "engine": "faiss",
            "space_type": SPACE_TYPE,
            "parameters": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
        },
    }


def index_body(dimensions: int) -> dict[str, Any]:
    """Settings and mappings of the index; the runtime's queries assume exactly these."""
    if dimensions < 1:
        raise ValueError(f"dimensions must be positive, not {dimensions}")
    properties: dict[str, Any] = {EMBEDDING_FIELD: embedding_mapping(dimensions)}
    properties.update({name: _field(name, kind) for name, kind in _SCALAR_FIELDS.items()})
    # Serverless collections reject shard and replica settings: only k-NN is switched on.
    return {
        "settings": {"index": {"knn": True}, "analysis": _ANALYSIS},
        "mappings": {"properties": properties},
    }


def _field(name: str, kind: str) -> dict[str, Any]:
    if name in _ANALYSED:
        return {"type": kind, "analyzer": TEXT_ANALYZER}
    return {"type": kind}


def mapping_version(dimensions: int) -> str:
    """A short digest of ``index_body``: changes whenever the definition does.

    The CDK passes it to the custom resource, so any mapping change makes CloudFormation send
    an Update without anyone having to remember to bump a number.
    """
    canonical = json.dumps(index_body(dimensions), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def ensure_index(client: SearchClient, name: str, dimensions: int) -> bool:
    """Create the index if absent; True if created, False if it existed and is compatible.

    An existing index missing some of our fields gets them added (an additive mapping
    change is allowed in place). A field of another type, or a vector of another dimension
    or method, cannot be changed in place: that raises ``IndexMappingConflictError``.
    """
    body = index_body(dimensions)
    existing = _existing_properties(client, name)
    if existing is None:
        try:
            client.indices.create(index=name, body=body)
        except RequestError as error:
            # Another writer created it between our look and our create: check theirs.
            if error.error != "resource_already_exists_exception":
                raise
            existing = _existing_properties(client, name) or {}
        else:
            return True
    wanted: dict[str, Any] = body["mappings"]["properties"]
    _check_compatible(name, wanted, existing)
    # Added without the analyzer: an index made before it lacks it in its settings (which
    # cannot change in place), and a field naming an unknown analyzer would be refused.
    missing = {
        field: {key: value for key, value in spec.items() if key != "analyzer"}
        for field, spec in wanted.items()
        if field not in existing
    }
    if missing:
        client.indices.put_mapping(index=name, body={"properties": missing})
    return False


def ensure_index_when_authorized(
    client: SearchClient,
    name: str,
    dimensions: int,
    *,
    timeout_seconds: float,
    on_retry: Callable[[int, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """``ensure_index``, retrying 403s until ``timeout_seconds`` have passed.

    A new data access policy takes effect up to a few minutes after CloudFormation reports
    it created, and until then the collection answers 403 to a correctly signed request.
    ``on_retry(attempt, delay)`` is told of each retry (for logging).
    """
    deadline = clock() + timeout_seconds
    delay = 2.0
    attempt = 1
    while True:
        try:
            return ensure_index(client, name, dimensions)
        except AuthorizationException:
            if clock() + delay > deadline:
                raise
        if on_retry is not None:
            on_retry(attempt, delay)
        sleep(delay)
        attempt += 1
        delay = min(delay * 2, 30.0)


def _existing_properties(client: SearchClient, name: str) -> dict[str, Any] | None:
    try:
        response = client.indices.get_mapping(index=name)
    except NotFoundError:
        return None
    # The response is keyed by the concrete index name (an alias would resolve to another).
    for description in response.values():
        properties: dict[str, Any] = description.get("mappings", {}).get("properties", {})
        return properties
    return {}


def _check_compatible(name: str, wanted: dict[str, Any], existing: dict[str, Any]) -> None:
    problems: list[str] = []
    for field, spec in wanted.items():
        found = existing.get(field)
        if found is None:
            continue
        if found.get("type") != spec["type"]:
            problems.append(f"{field} is {found.get('type')!r}, expected {spec['type']!r}")
    vector = existing.get(EMBEDDING_FIELD)
    if vector is not None and vector.get("type") == "knn_vector":
        expected = wanted[EMBEDDING_FIELD]
        if vector.get("dimension") != expected["dimension"]:
            problems.append(
                f"{EMBEDDING_FIELD} has dimension {vector.get('dimension')}, "
                f"expected {expected['dimension']}"
            )
        method = vector.get("method", {})
        for key in ("name", "engine", "space_type"):
            if method.get(key) != expected["method"][key]:
                problems.append(
                    f"{EMBEDDING_FIELD} method {key} is {method.get(key)!r}, "
                    f"expected {expected['method'][key]!r}"
                )
    if problems:
        raise IndexMappingConflictError(
            f"index {name!r} exists with an incompatible mapping ({'; '.join(problems)}); "
            "a mapping cannot change in place: deploy with a new index name and re-ingest"
        )
