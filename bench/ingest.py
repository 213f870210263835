"""Ingestion throughput and end-to-end query latency on the embedded index, with the real model.

    .venv/bin/python bench/ingest.py --chunk-size 250 --overlap 0 [--threads N]
        [--queries 203] [--limit 5] [--skip-queries] [--max-files N]
        [--output bench/results/ingest.md]

1. Writes the python_faq corpus (tests/data/python_faq, Python 3.11's documentation: real
   text, PSF licence) out as Markdown, one file per manual page: the page title as `#`, each
   section under a `##` heading made from its anchor, its passages joined by blank lines.
2. Ingests the folder with the real pipeline (``Ingestor``: read, chunk, embed with
   all-MiniLM-L6-v2 through ``LocalEmbeddings``, upsert into ``SQLiteDocumentIndex`` through
   ``SQLiteDocumentStore``) into a fresh file, and reports chunks per second over the whole
   run (model loading excluded: it is loaded before the clock starts). A small chunk size
   makes the 2.35 MB of text into more than 10,000 chunks.
3. Times the python_faq questions end to end through ``ModeSearch`` (the document search the
   RAG path uses): embedding the query with the model, then searching, for vector, keyword
   and hybrid, interleaved query by query, after one untimed warm-up query per kind.
   Percentiles are nearest-rank.

``--threads`` sets torch's threads (``EMBEDDING_THREADS``); it is process-wide, so compare
thread counts in separate runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from chatbot.adapters.local.document_store import SQLiteDocumentStore
from chatbot.adapters.local.documents import SQLiteDocumentIndex
from chatbot.adapters.local.embeddings import LocalEmbeddings
from chatbot.analytics_report import percentile
from chatbot.document_search import ModeSearch, SearchMode
from chatbot.evaluation.dataset import load_dataset
from chatbot.ingest.pipeline import DEFAULT_BATCH_SIZE, Ingestor

# The configured default of RAG_MIN_SCORE: what the RAG path applies to vector and hybrid.
MIN_SCORE = 0.3


def write_corpus(folder: Path, max_files: int | None = None) -> tuple[int, int]:
    """The corpus as one Markdown file per page (the first ``max_files`` pages only, if
    given); returns (files, characters)."""
    dataset = load_dataset()
    pages: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    last_section = ""
    for passage in dataset.passages:
        page, _, anchor = passage.source.partition("#")
        titles.setdefault(page, passage.title)
        parts = pages.setdefault(page, [])
        if passage.source != last_section:
            parts.append(f"## {anchor.replace('-', ' ').strip() or passage.title}")
            last_section = passage.source
        parts.append(passage.text)
    characters = 0
    for page, parts in list(pages.items())[:max_files]:
        name = re.sub(r"[^A-Za-z0-9]+", "_", page.removesuffix(".html")) + ".md"
        text = f"# {titles[page]}\n\n" + "\n\n".join(parts) + "\n"
        (folder / name).write_text(text, encoding="utf-8")
        characters += len(text)
    return min(len(pages), max_files or len(pages)), characters


Search = Callable[[str], object]


def _percentile(samples: list[float], rank: float) -> float:
    """Nearest rank (chatbot.analytics_report.percentile) of samples that are never empty."""
    value = percentile(samples, rank)
    assert value is not None
    return value


def timed(searches: dict[str, Search], queries: list[str]) -> dict[str, list[float]]:
    """Milliseconds per query for each search, interleaved (each query runs through every
    search before the next query, the first search rotating) so that a burst of load from
    elsewhere falls on all kinds alike, not on whichever ran at that moment."""
    for search in searches.values():
        search(queries[0])  # warm-up: loads the vector matrix, fills caches
    kinds = list(searches)
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    for number, query in enumerate(queries):
        for kind in kinds[number % len(kinds) :] + kinds[: number % len(kinds)]:
            start = time.perf_counter()
            searches[kind](query)
            latencies[kind].append((time.perf_counter() - start) * 1000)
    return latencies


def _searcher(search: ModeSearch, limit: int) -> Search:
    return lambda query: search.search(query, limit=limit)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--overlap", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (EMBEDDING_THREADS)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--queries", type=int, default=203)
    parser.add_argument("--limit", type=int, default=5, help="results per query (RAG top k)")
    parser.add_argument("--skip-queries", action="store_true", help="ingestion only")
    parser.add_argument("--max-files", type=int, help="only the first N pages (a shorter run)")
    parser.add_argument("--output", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    embeddings = LocalEmbeddings(batch_size=args.batch_size, threads=args.threads)
    started = time.perf_counter()
    embeddings.load()
    load_s = time.perf_counter() - started
    questions = [query.text for query in load_dataset().queries][: args.queries]

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        documents = Path(folder) / "python_faq"
        documents.mkdir()
        _, characters = write_corpus(documents, args.max_files)
        index = SQLiteDocumentIndex(Path(folder) / "documents.sqlite3", embeddings)
        ingestor = Ingestor(
            SQLiteDocumentStore(index, model_id=embeddings.model_id),
            embeddings,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            overlap=args.overlap,
        )
        summary = ingestor.ingest_paths([documents])
        # The main file and its write-ahead log: recent writes may not be checkpointed yet.
        size_mb = sum(f.stat().st_size for f in Path(folder).glob("documents.sqlite3*")) / 1e6
        load_middle = os.getloadavg()[0]
        results: dict[str, list[float]] = {}
        if not args.skip_queries:
            modes: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
            searches: dict[str, Search] = {
                mode: _searcher(ModeSearch(index, mode, MIN_SCORE), args.limit) for mode in modes
            }
            results = timed(searches, questions)
        index.close()

    rate = summary.embedded / summary.seconds
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### {stamp}: chunk size {args.chunk_size}, overlap {args.overlap}, torch threads "
        f"{args.threads or 'default'}, batch {args.batch_size} "
        f"(nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SQLite {sqlite3.sqlite_version})",
        "",
        f"Ingested {summary.files} Markdown files ({characters:,} characters) into "
        f"{summary.added:,} chunks in {summary.seconds:.1f} s: **{rate:.1f} chunks/s** "
        f"({characters / summary.seconds:,.0f} characters/s; model loaded before, in "
        f"{load_s:.1f} s); index files {size_mb:.1f} MB (with the WAL); "
        f"load average {load_before:.2f} before, "
        f"{load_middle:.2f} after ingesting.",
    ]
    if results:
        lines += [
            "",
            f"Queries: {len(questions)} python_faq questions per kind, top {args.limit}, "
            f"min score {MIN_SCORE} (vector, hybrid), through `ModeSearch`, query embedding "
            f"included; load average {os.getloadavg()[0]:.2f} after.",
            "",
            "| search | queries | p50 ms | p99 ms | mean ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for kind, samples in results.items():
            lines.append(
                f"| {kind} | {len(samples)} | {_percentile(samples, 50):.1f} | "
                f"{_percentile(samples, 99):.1f} | {statistics.fmean(samples):.1f} | "
                f"{max(samples):.1f} |"
            )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        with args.output.open("a", encoding="utf-8") as out:
            out.write(f"\nCommand: `{' '.join(['bench/ingest.py', *sys.argv[1:]])}`\n\n{table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
