"""The router's example vectors, shipped in the package so a cold start embeds none of them.

One file per embedding model under ``route_vectors/``: a JSON header line naming the model,
its width and the fingerprint of the examples embedded (``RouteExamples.fingerprint``: the
routes and texts, not the file's comments), then the vectors as little-endian float16, in the
examples' order. float16 keeps three significant digits, far finer than the router's margins
(0.04), and halves the size of float32: 90 Titan vectors of 1024 are 184 kB.

``scripts/route_vectors.py`` writes them: offline for the local model, with AWS credentials
for Titan. A file whose header does not match the running model and examples is ignored, and
the router embeds the examples at cold start instead, as before.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

VECTORS_PACKAGE: Final = "chatbot.engine"
VECTORS_FOLDER: Final = "route_vectors"
SUFFIX: Final = ".f16"
ENCODING: Final = "float16-le"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


class RouteVectorsError(ValueError):
    """A vectors file is malformed: a bad header or a payload of the wrong size."""


@dataclass(frozen=True)
class VectorsKey:
    """What a set of example vectors is valid for: one model, one width, one set of examples."""

    model_id: str
    dimensions: int
    examples_sha256: str


def file_name(model_id: str) -> str:
    """The file of ``model_id``'s vectors (Titan's model id already names its width)."""
    return _UNSAFE.sub("_", model_id) + SUFFIX


def shipped_folder() -> Traversable:
    return resources.files(VECTORS_PACKAGE) / VECTORS_FOLDER


def encode(key: VectorsKey, vectors: Sequence[Sequence[float]]) -> bytes:
    """The file's bytes: header line, then the vectors as float16."""
    if any(len(vector) != key.dimensions for vector in vectors):
        raise RouteVectorsError(f"every vector must have {key.dimensions} values")
    payload = b"".join(struct.pack(f"<{key.dimensions}e", *vector) for vector in vectors)
    header = {
        "model_id": key.model_id,
        "dimensions": key.dimensions,
        "examples_sha256": key.examples_sha256,
        "count": len(vectors),
        "encoding": ENCODING,
        "vectors_sha256": hashlib.sha256(payload).hexdigest(),
    }
    return json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def read_key(data: bytes) -> tuple[VectorsKey, int]:
    """The header of a vectors file: its key and its vector count."""
    header = _header(data)[0]
    count = header.get("count")
    if not isinstance(count, int):
        raise RouteVectorsError("the header lacks a vector count")
    return _key_of(header), count


def decode(data: bytes, key: VectorsKey, count: int) -> list[list[float]] | None:
    """The ``count`` vectors of ``data`` when its header is ``key``, else None.

    Each vector is scaled back to unit length: float16 rounding moves it by about 1e-4."""
    header, payload = _header(data)
    if _key_of(header) != key or header.get("count") != count:
        return None
    if header.get("encoding") != ENCODING:
        raise RouteVectorsError(f"unknown encoding {header.get('encoding')!r}")
    if len(payload) != 2 * count * key.dimensions:
        raise RouteVectorsError(f"{len(payload)} bytes where {count} vectors were declared")
    if hashlib.sha256(payload).hexdigest() != header.get("vectors_sha256"):
        raise RouteVectorsError("the vectors do not match their checksum")
    width = key.dimensions
    values = struct.unpack(f"<{count * width}e", payload)
    vectors: list[list[float]] = []
    for start in range(0, len(values), width):
        vector = values[start : start + width]
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vectors.append([x / norm for x in vector])
    return vectors


def load_shipped(
    key: VectorsKey, count: int, folder: Traversable | Path | None = None
) -> list[list[float]] | None:
    """The shipped vectors for ``key`` (``count`` of them), or None when none match."""
    path = (folder if folder is not None else shipped_folder()) / file_name(key.model_id)
    if not path.is_file():
        return None
    return decode(path.read_bytes(), key, count)


def _header(data: bytes) -> tuple[dict[str, object], bytes]:
    line, newline, payload = data.partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError as error:
        raise RouteVectorsError("the header line is not JSON") from error
    if not newline or not isinstance(header, dict):
        raise RouteVectorsError("a vectors file starts with one JSON object on a line")
    return header, payload


def _key_of(header: dict[str, object]) -> VectorsKey:
    try:
        return VectorsKey(
            model_id=str(header["model_id"]),
            dimensions=int(str(header["dimensions"])),
            examples_sha256=str(header["examples_sha256"]),
        )
    except (KeyError, ValueError) as error:
        raise RouteVectorsError(f"the header lacks a valid {error}") from error
