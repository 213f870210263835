"""Retrieval latency of the embedded index: vector, keyword and hybrid queries over N chunks.

    .venv/bin/python bench/retrieval.py --chunks 10000 --dimensions 384 --queries 200
        [--busy-cores 1] [--output bench/results/retrieval.md]

Builds a SQLite file in a temporary folder with N synthetic chunks (120 words each, drawn
from a Zipf-like vocabulary of 5,000 made-up words, so FTS5 sees realistic term frequencies)
and their unit vectors from a hashed bag-of-words model of the given dimension (384: what
all-MiniLM-L6-v2 returns). Then it times Q queries (6 words each, same distribution) per kind
of search, after one untimed warm-up query that loads the vector matrix into memory (its cost
is reported on its own). Two more rows time the matrix-vector product alone on a matrix of
the same shape, with einsum (what the index uses) and with BLAS (``@``). ``--busy-cores N``
keeps N cores busy with spinning child processes while timing, to see what contention for
the CPU (a model, the gateway) does to the tails; they are killed when timing ends.

Query embedding is inside the timings but costs ~0.1 ms here; a real model adds its own time
(all-MiniLM-L6-v2 on a CPU: a few ms) to the vector and hybrid rows.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from chatbot.adapters.local.documents import ChunkToIndex, SQLiteDocumentIndex
from chatbot.analytics_report import percentile
from chatbot.records import DocumentChunk

WORDS_PER_CHUNK = 120
WORDS_PER_QUERY = 6
VOCABULARY = 5000


class HashedBagOfWords:
    """A stand-in embedding model: fast, deterministic, unit vectors of any dimension."""

    def __init__(self, dimensions: int) -> None:
        self._dimensions = dimensions
        self._slots: dict[str, int] = {}

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def model_id(self) -> str:
        return f"bench-bow-{self._dimensions}"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        slots = [self._slot(word) for word in text.split()]
        vector = np.bincount(slots, minlength=self._dimensions).astype(np.float32)
        vector /= np.linalg.norm(vector) or 1.0
        return [float(x) for x in vector]

    def _slot(self, word: str) -> int:
        slot = self._slots.get(word)
        if slot is None:
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            slot = self._slots[word] = int.from_bytes(digest, "big") % self._dimensions
        return slot


def corpus(count: int, rng: random.Random) -> tuple[list[str], list[float]]:
    words = [f"w{n:04d}" for n in range(VOCABULARY)]
    weights = [1 / (rank + 1) for rank in range(VOCABULARY)]
    texts = [" ".join(rng.choices(words, weights, k=WORDS_PER_CHUNK)) for _ in range(count)]
    return texts, weights


def _percentile(samples: list[float], rank: float) -> float:
    """Nearest rank (chatbot.analytics_report.percentile) of samples that are never empty."""
    value = percentile(samples, rank)
    assert value is not None
    return value


def timed(search: Callable[[str], list[DocumentChunk]], queries: list[str]) -> list[float]:
    latencies = []
    for query in queries:
        start = time.perf_counter()
        found = search(query)
        latencies.append((time.perf_counter() - start) * 1000)
        assert found, query
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--dimensions", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--limit", type=int, default=5, help="results per query (RAG top k)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, help="append the table to this Markdown file")
    parser.add_argument(
        "--busy-cores",
        type=int,
        default=0,
        help="keep this many cores busy with spinning child processes while timing",
    )
    args = parser.parse_args()

    # The machine may be shared: its load is part of what the figures mean.
    load_before = os.getloadavg()[0]
    rng = random.Random(args.seed)
    texts, weights = corpus(args.chunks, rng)
    words = [f"w{n:04d}" for n in range(VOCABULARY)]
    queries = [
        " ".join(rng.choices(words, weights, k=WORDS_PER_QUERY)) for _ in range(args.queries)
    ]
    model = HashedBagOfWords(args.dimensions)

    with tempfile.TemporaryDirectory() as folder:
        index = SQLiteDocumentIndex(Path(folder) / "bench.sqlite3", model)
        start = time.perf_counter()
        index.add_chunks(
            ChunkToIndex(
                id=f"c{n}",
                document_id=f"d{n // 20}",
                source=f"doc{n // 20}.md",
                position=n % 20,
                content=text,
            )
            for n, text in enumerate(texts)
        )
        vectors = model.embed_documents(texts)
        index.store_embeddings(
            {f"c{n}": vector for n, vector in enumerate(vectors)}, model_id=model.model_id
        )
        build_s = time.perf_counter() - start

        start = time.perf_counter()
        index.search_vector(queries[0], limit=args.limit)
        load_ms = (time.perf_counter() - start) * 1000

        # The product alone, both ways, on a matrix of the same shape: why the index uses
        # einsum rather than BLAS.
        generator = np.random.default_rng(args.seed)
        matrix = generator.standard_normal((args.chunks, args.dimensions), dtype=np.float32)
        probes = [np.asarray(model.embed_query(q), dtype=np.float32) for q in queries]

        spinners = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.busy_cores)
        ]
        try:
            results = {
                "vector": timed(lambda q: index.search_vector(q, limit=args.limit), queries),
                "keyword": timed(lambda q: index.search_keyword(q, limit=args.limit), queries),
                "hybrid": timed(lambda q: index.search_hybrid(q, limit=args.limit), queries),
                "product only, einsum": _timed_products(
                    lambda v: np.einsum("ij,j->i", matrix, v), probes
                ),
                "product only, BLAS @": _timed_products(lambda v: matrix @ v, probes),
            }
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
        index.close()

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### {stamp}: {args.chunks} chunks x {args.dimensions} dims, {args.queries} queries, "
        f"top {args.limit}, busy cores: {args.busy_cores} "
        f"(nproc {_cpus()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SQLite {_sqlite_version()})",
        "",
        f"Index built in {build_s:.1f} s; first vector query (loads the matrix) {load_ms:.1f} ms; "
        f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after.",
        "",
        "| search | queries | p50 ms | p99 ms | mean ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, samples in results.items():
        lines.append(
            f"| {kind} | {len(samples)} | {_percentile(samples, 50):.2f} | "
            f"{_percentile(samples, 99):.2f} | {statistics.fmean(samples):.2f} | "
            f"{max(samples):.2f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        with args.output.open("a") as out:
            out.write(f"\nCommand: `{' '.join(['bench/retrieval.py', *sys.argv[1:]])}`\n\n{table}")
    return 0


def _timed_products(
    product: Callable[[np.ndarray], np.ndarray], probes: list[np.ndarray]
) -> list[float]:
    latencies = []
    for probe in probes:
        start = time.perf_counter()
        product(probe)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def _cpus() -> int:
    return os.cpu_count() or 1


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


if __name__ == "__main__":
    raise SystemExit(main())
