"""The Amazon S3 Vectors index the chatbot's documents live in: one definition for the stack,
its setup function, the adapter and the tests' fake.

Every chunk is one vector, keyed by its chunk id, with its fields as metadata:

filterable (at most 2 KB a vector, all together)
    ``source``, ``document_id``, ``content_hash`` and ``embedding_model``: what the adapter
    filters on (a vector search asks for the vectors of its own model only).
non-filterable (at most 10 keys an index; 40 KB a vector with the filterable ones)
    ``content`` and ``title``, which are also full-text searchable (BM25, English analyzer),
    and ``position`` and ``ingested_at``.

The limits are those of the service (S3 User Guide, "Limitations and restrictions"), except
the list sizes, which botocore's service model states too (``PutVectorsInputList`` 500,
``DeleteVectorsInputList`` 500, ``GetVectorsInputList`` 100, ``ListVectorsMaxResults`` 1,000).
"""

from __future__ import annotations

from typing import Any, Final

DATA_TYPE: Final = "float32"
# Cosine: S3 Vectors reports ``distance = 1 - cosine similarity`` for it, so the adapter's
# score is ``1 - distance``, the cosine the other stores report and RAG_MIN_SCORE is set in.
DISTANCE_METRIC: Final = "cosine"
# Full-text and hybrid queries need an ENHANCED index (botocore's QueryVectors documentation).
INDEX_MODE: Final = "ENHANCED"
TEXT_LANGUAGE: Final = "en"

FILTERABLE_KEYS: Final = ("source", "document_id", "content_hash", "embedding_model")
NON_FILTERABLE_KEYS: Final = ("content", "title", "position", "ingested_at")
# The keys a keyword query searches, and the weight of each key's BM25 score: a title match
# counts twice a content match, as in the embedded index and OpenSearch.
TEXT_SEARCH_WEIGHTS: Final = {"content": 1.0, "title": 2.0}

# Service limits (the User Guide; the list sizes also in botocore's model, see above).
MAX_PUT_VECTORS: Final = 500
MAX_DELETE_VECTORS: Final = 500
MAX_GET_VECTORS: Final = 100
MAX_LIST_RESULTS: Final = 1000
MAX_TOP_K: Final = 100
MAX_FILTERABLE_METADATA_BYTES: Final = 2048
MAX_METADATA_BYTES: Final = 40 * 1024
MAX_QUERY_TEXT_CHARACTERS: Final = 1024
MAX_DIMENSIONS: Final = 4096


def text_search_configurations() -> list[dict[str, str]]:
    """The ``textSearchConfigurations`` of the index (CreateIndex and
    UpdateMetadataConfiguration take this shape)."""
    return [{"metadataKey": key, "language": TEXT_LANGUAGE} for key in TEXT_SEARCH_WEIGHTS]


def create_index_request(bucket: str, index: str, dimensions: int) -> dict[str, Any]:
    """The CreateIndex request of the index, as the stack's resources amount to."""
    if not 1 <= dimensions <= MAX_DIMENSIONS:
        raise ValueError(f"an S3 Vectors index has 1-{MAX_DIMENSIONS} dimensions, not {dimensions}")
    return {
        "vectorBucketName": bucket,
        "indexName": index,
        "dataType": DATA_TYPE,
        "dimension": dimensions,
        "distanceMetric": DISTANCE_METRIC,
        "metadataConfiguration": {
            "nonFilterableMetadataKeys": list(NON_FILTERABLE_KEYS),
            "textSearchConfigurations": text_search_configurations(),
        },
    }
