"""Exact vector search in memory: stored vectors as one NumPy matrix, scored in one product."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

# Stored vectors: float32, little-endian whatever the machine, so a file moves between hosts.
VECTOR_DTYPE: Final = np.dtype("<f4")


def encode_vector(vector: Sequence[float]) -> bytes:
    """The stored form of an embedding: float32 little-endian."""
    return np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()


@dataclass(frozen=True)
class VectorMatrix:
    """Every vector of the index's model, one row per chunk, as of one write count."""

    writes: int
    rowids: npt.NDArray[np.int64]  # ascending, so a rowid's row is found by bisection
    matrix: npt.NDArray[np.float32]  # (chunks, dimensions)

    @classmethod
    def from_rows(
        cls, writes: int, rows: Sequence[tuple[int, bytes]], dimensions: int
    ) -> VectorMatrix:
        """From (rowid, blob) rows in ascending rowid order, every blob ``dimensions`` long."""
        rowids = np.fromiter((rowid for rowid, _ in rows), np.int64, len(rows))
        matrix = (
            np.frombuffer(b"".join(blob for _, blob in rows), dtype=VECTOR_DTYPE)
            .astype(np.float32)  # native order, and a writable copy rather than a view
            .reshape(len(rows), dimensions)
        )
        return cls(writes, rowids, matrix)

    def cosines(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """One matrix-vector product: every stored vector's dot product with the query's."""
        # einsum's single-threaded loop, not BLAS (``@``): BLAS hands a product of this size
        # to its thread pool, which wins at the median (0.1-0.3 ms against 0.6 ms at 10,000 x
        # 384) but loses the tail whenever something else wants the CPU (p99 9-29 ms against
        # 0.8-13 ms on 2 shared CPUs; bench/results/retrieval.md).
        cosines: npt.NDArray[np.float32] = np.einsum("ij,j->i", self.matrix, query)
        return cosines

    def cosines_of(self, cosines: npt.NDArray[np.float32], rowids: Sequence[int]) -> list[float]:
        """From ``cosines`` (of this matrix), each rowid's; -inf for a rowid with no vector."""
        wanted = np.asarray(rowids, dtype=np.int64)
        found = np.searchsorted(self.rowids, wanted)
        result: list[float] = []
        for rowid, at in zip(wanted.tolist(), found.tolist(), strict=True):
            present = at < len(self.rowids) and int(self.rowids[at]) == rowid
            result.append(float(cosines[at]) if present else float("-inf"))
        return result


def top(
    scores: npt.NDArray[np.float32], count: int, min_score: float | None
) -> npt.NDArray[np.intp]:
    """Positions of the ``count`` highest scores (at least ``min_score``), best first."""
    candidates = (
        np.arange(len(scores)) if min_score is None else np.flatnonzero(scores >= min_score)
    )
    if len(candidates) > count:
        # argpartition is linear: only the few winners are then sorted.
        candidates = candidates[np.argpartition(-scores[candidates], count - 1)[:count]]
    # Stable on ascending positions (rowids): equal scores rank in insertion order.
    candidates = np.sort(candidates)
    return candidates[np.argsort(-scores[candidates], kind="stable")]
