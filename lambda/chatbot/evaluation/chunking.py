"""Chunking evaluation: vector retrieval over the python_faq corpus re-chunked at several sizes.

The corpus's passages of one section share their ``source`` and come in order, so each
section's text is rebuilt by joining them, then cut again by the ingestion's own chunker
(``chatbot.ingest.chunking``) at each (size, overlap). A new chunk is relevant to a query when
its characters overlap those of a passage judged relevant to it. Every setting is embedded
with the same model, indexed into a fresh ``SQLiteDocumentIndex`` and searched by vector.

nDCG@10 and recall@10 count chunks, and a setting's chunks are not the units of another's: a
big chunk is "relevant" more easily, and fewer of them cover an answer. So beside them stand
two measures that do not depend on the chunking, in characters (whitespace not counted) of
the chunks taken best first until a budget is spent, as a RAG prompt takes them: the share
of the answer's characters in the budget, and the share of queries with any of their
answer's characters in it.

    python -m chatbot.evaluation.chunking [--sizes 400,800,1200] [--overlaps 0,100,200]
        [--distractor-share F] [--limit-queries N] [--threads N] [--output FILE]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chatbot.adapters.local.documents import ChunkToIndex, SQLiteDocumentIndex
from chatbot.adapters.local.embeddings import LocalEmbeddings
from chatbot.clock import SystemClock
from chatbot.embeddings import Embeddings
from chatbot.errors import ModelUnavailableError
from chatbot.evaluation.dataset import DEFAULT_DATASET, DatasetError, RetrievalDataset, load_dataset
from chatbot.evaluation.metrics import mean, ndcg_at_k, recall_at_k
from chatbot.evaluation.results_log import append_section
from chatbot.evaluation.retrieval import RememberedQueries
from chatbot.ingest.chunking import check_sizes, chunk_document
from chatbot.ingest.readers import Document, Section

CUTOFF: Final = 10
# Characters (whitespace not counted) of context a RAG prompt takes: 4,000 is what the
# default top 5 chunks of 800 characters hold; 2,000 a tighter prompt.
BUDGETS: Final = (2000, 4000)
# How deep each search goes: enough chunks to fill the largest budget with the smallest size.
_DEPTH: Final = 40
_EMBEDDING_BATCH: Final = 128
# Passages were cut at paragraph boundaries: a blank line rebuilds the section.
_PASSAGE_JOIN: Final = "\n\n"

Progress = Callable[[str], None]
# (source, start, end): a span of a section's text in characters other than whitespace.
Span = tuple[str, int, int]


@dataclass(frozen=True)
class CorpusSection:
    source: str
    title: str
    text: str
    # passage id -> its span in the section's characters other than whitespace
    passages: Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class SpannedChunk:
    id: str
    source: str
    start: int
    end: int
    content: str
    embedding_text: str


@dataclass(frozen=True)
class SettingResult:
    size: int
    overlap: int
    chunks: int
    mean_chars: float
    # chunks whose embedding text is over 1,000 characters: likely cut at the model's 256
    # word pieces, so their tails are not embedded at all
    long_chunks: int
    ndcg: float
    recall: float
    # budget -> (share of answer characters in it, share of queries with any in it)
    coverage: Mapping[int, tuple[float, float]]
    embed_seconds: float


def compact(text: str) -> str:
    return "".join(text.split())


def sections_of(dataset: RetrievalDataset) -> list[CorpusSection]:
    """The corpus's sections in order, each rebuilt from its passages.

    ``DatasetError`` if a section's passages are not consecutive, or disagree on the title:
    then they are not one text cut in order.
    """
    sections: list[CorpusSection] = []
    done: set[str] = set()
    for passage in dataset.passages:
        if sections and sections[-1].source == passage.source:
            last = sections[-1]
            if passage.title != last.title:
                raise DatasetError(f"{passage.id}: another title than its section's")
            end = len(compact(last.text))
            spans = {**last.passages, passage.id: (end, end + len(compact(passage.text)))}
            text = last.text + _PASSAGE_JOIN + passage.text
            sections[-1] = CorpusSection(last.source, last.title, text, spans)
            continue
        if passage.source in done:
            raise DatasetError(f"{passage.id}: its section's passages are not consecutive")
        done.add(passage.source)
        span = (0, len(compact(passage.text)))
        sections.append(
            CorpusSection(passage.source, passage.title, passage.text, {passage.id: span})
        )
    return sections


def answer_spans(
    dataset: RetrievalDataset, sections: Sequence[CorpusSection]
) -> dict[str, list[Span]]:
    """query id -> the spans of its relevant passages."""
    where = {pid: (s.source, *span) for s in sections for pid, span in s.passages.items()}
    return {
        query_id: [where[pid] for pid, grade in grades.items() if grade > 0 and pid in where]
        for query_id, grades in dataset.qrels.items()
    }


def sample_sections(
    sections: Sequence[CorpusSection], keep: set[str], share: float, seed: int
) -> list[CorpusSection]:
    """Every section named in ``keep`` and a seeded ``share`` of the others, in order."""
    others = [s.source for s in sections if s.source not in keep]
    chosen = set(random.Random(seed).sample(others, round(share * len(others))))  # noqa: S311
    return [s for s in sections if s.source in keep or s.source in chosen]


def rechunk(section: CorpusSection, size: int, overlap: int) -> list[SpannedChunk]:
    """The section cut by the ingestion's chunker, each chunk located in the section's text."""
    document = Document(section.source, section.title, [Section((section.title,), section.text)])
    haystack = compact(section.text)
    chunks: list[SpannedChunk] = []
    cursor = 0
    for chunk in chunk_document(document, size=size, overlap=overlap):
        needle = compact(chunk.content)
        start = haystack.find(needle, cursor)
        if start < 0:
            raise ValueError(f"a chunk of {section.source} is not in its section's text")
        chunks.append(
            SpannedChunk(
                id=f"{section.source}@{chunk.position}",
                source=section.source,
                start=start,
                end=start + len(needle),
                content=chunk.content,
                embedding_text=chunk.embedding_text,
            )
        )
        # The next chunk starts after this one's start (it may overlap its end).
        cursor = start + 1
    return chunks


def overlaps(chunk: SpannedChunk, span: Span) -> bool:
    source, start, end = span
    return chunk.source == source and chunk.start < end and start < chunk.end


def budget_coverage(
    ranking: Sequence[SpannedChunk], answer: Sequence[Span], budget: int
) -> tuple[float, bool]:
    """(share of the answer's characters, whether any) in the ranked chunks' first ``budget``
    characters; the chunk that crosses the budget counts up to it. Overlap between chunks is
    spent twice, as a prompt would carry it twice."""
    total = sum(end - start for _, start, end in answer)
    if total == 0:
        return 0.0, False
    covered: dict[str, list[tuple[int, int]]] = {}
    left = budget
    for chunk in ranking:
        if left <= 0:
            break
        end = min(chunk.end, chunk.start + left)
        left -= chunk.end - chunk.start
        covered.setdefault(chunk.source, []).append((chunk.start, end))
    found = 0
    for source, start, end in answer:
        found += _covered_length(covered.get(source, []), start, end)
    return found / total, found > 0


def _covered_length(spans: Sequence[tuple[int, int]], start: int, end: int) -> int:
    """How many characters of [start, end) the union of ``spans`` covers."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in spans if a < end and start < b)
    length, reach = 0, start
    for a, b in clipped:
        a = max(a, reach)
        if b > a:
            length += b - a
            reach = b
    return length


class _VectorCache:
    """Vectors by text: a section short enough to be one chunk at several sizes is embedded
    once for all of them."""

    def __init__(self, embeddings: Embeddings) -> None:
        self._embeddings = embeddings
        self._vectors: dict[str, list[float]] = {}

    def vectors(self, texts: Sequence[str], progress: Progress) -> list[list[float]]:
        missing = sorted({text for text in texts if text not in self._vectors})
        for start in range(0, len(missing), _EMBEDDING_BATCH):
            batch = missing[start : start + _EMBEDDING_BATCH]
            self._vectors.update(zip(batch, self._embeddings.embed_documents(batch), strict=True))
            progress(f"embedded {min(start + _EMBEDDING_BATCH, len(missing))}/{len(missing)}")
        return [self._vectors[text] for text in texts]


def evaluate_setting(
    sections: Sequence[CorpusSection],
    dataset: RetrievalDataset,
    answers: Mapping[str, Sequence[Span]],
    model: RememberedQueries,
    cache: _VectorCache,
    size: int,
    overlap: int,
    progress: Progress,
) -> SettingResult:
    chunks = [chunk for section in sections for chunk in rechunk(section, size, overlap)]
    by_id = {chunk.id: chunk for chunk in chunks}
    started = time.perf_counter()
    vectors = cache.vectors([chunk.embedding_text for chunk in chunks], progress)
    embed_seconds = time.perf_counter() - started
    ndcgs: list[float] = []
    recalls: list[float] = []
    shares: dict[int, list[float]] = {budget: [] for budget in BUDGETS}
    hits: dict[int, list[float]] = {budget: [] for budget in BUDGETS}
    with tempfile.TemporaryDirectory(prefix="chunking-eval-") as directory:
        index = SQLiteDocumentIndex(Path(directory) / "index.sqlite3", model)
        try:
            index.add_chunks(
                ChunkToIndex(c.id, c.source, c.source, n, c.content, title="")
                for n, c in enumerate(chunks)
            )
            index.store_embeddings(
                {c.id: v for c, v in zip(chunks, vectors, strict=True)}, model_id=model.model_id
            )
            for query in dataset.queries:
                answer = answers.get(query.id, [])
                ranking = [
                    by_id[found.id] for found in index.search_vector(query.text, limit=_DEPTH)
                ]
                relevance = {c.id: 1 for c in chunks if any(overlaps(c, span) for span in answer)}
                ids = [chunk.id for chunk in ranking]
                ndcgs.append(ndcg_at_k(ids, relevance, CUTOFF))
                recalls.append(recall_at_k(ids, relevance, CUTOFF))
                for budget in BUDGETS:
                    share, hit = budget_coverage(ranking, answer, budget)
                    shares[budget].append(share)
                    hits[budget].append(1.0 if hit else 0.0)
        finally:
            index.close()
    return SettingResult(
        size=size,
        overlap=overlap,
        chunks=len(chunks),
        mean_chars=mean([float(len(c.content)) for c in chunks]),
        long_chunks=sum(len(c.embedding_text) > 1000 for c in chunks),
        ndcg=mean(ndcgs),
        recall=mean(recalls),
        coverage={b: (mean(shares[b]), mean(hits[b])) for b in BUDGETS},
        embed_seconds=embed_seconds,
    )


def to_markdown(results: Sequence[SettingResult], header: str) -> str:
    budget_columns = "".join(
        f" answer chars in {b:,} | queries answered in {b:,} |" for b in BUDGETS
    )
    lines = [
        header,
        "",
        f"| size | overlap | chunks | mean chars | over 1,000 chars | nDCG@{CUTOFF} | "
        f"recall@{CUTOFF} |{budget_columns} embed s |",
        "| ---: " * (7 + 2 * len(BUDGETS) + 1) + "|",
    ]
    for r in results:
        cells = "".join(f" {r.coverage[b][0]:.3f} | {r.coverage[b][1]:.3f} |" for b in BUDGETS)
        lines.append(
            f"| {r.size} | {r.overlap} | {r.chunks} | {r.mean_chars:.0f} | {r.long_chunks} | "
            f"{r.ndcg:.3f} | {r.recall:.3f} |{cells} {r.embed_seconds:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas: {text!r}"
        ) from error


def main(
    argv: Sequence[str] | None = None, *, embeddings: Callable[[], Embeddings] | None = None
) -> int:
    parser = argparse.ArgumentParser(
        prog="chatbot eval chunking", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATASET, help="dataset directory")
    parser.add_argument("--sizes", type=_int_list, default=[400, 800, 1200])
    parser.add_argument("--overlaps", type=_int_list, default=[0, 100, 200])
    parser.add_argument(
        "--distractor-share",
        type=float,
        default=1.0,
        metavar="F",
        help="index this share of the sections no query is about (seeded sample; default all)",
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--limit-queries", type=int, metavar="N", help="only the first N queries")
    parser.add_argument("--threads", type=int, help="torch threads of the local model")
    parser.add_argument("--output", type=Path, help="append the table to this Markdown file")
    options = parser.parse_args(argv)
    settings = [
        (size, overlap)
        for size in options.sizes
        for overlap in options.overlaps
        if _valid(size, overlap)
    ]
    if not settings or not 0 <= options.distractor_share <= 1:
        parser.error("no valid (size, overlap) setting, or a share outside [0, 1]")
    try:
        dataset = load_dataset(options.data)
        sections = sections_of(dataset)
    except (OSError, DatasetError) as error:
        sys.stderr.write(f"cannot read the dataset: {error}\n")
        return 2
    if options.limit_queries is not None:
        dataset = dataset.first_queries(options.limit_queries)
    answers = answer_spans(dataset, sections)
    asked = {source for spans in answers.values() for source, _, _ in spans}
    kept = sample_sections(sections, asked, options.distractor_share, options.seed)

    def progress(message: str) -> None:
        sys.stderr.write(f"{message}\n")

    try:
        model = RememberedQueries(
            embeddings() if embeddings else LocalEmbeddings(threads=options.threads)
        )
        cache = _VectorCache(model)
        results = []
        started = time.perf_counter()
        for size, overlap in settings:
            progress(f"size {size}, overlap {overlap}")
            results.append(
                evaluate_setting(kept, dataset, answers, model, cache, size, overlap, progress)
            )
    except ModelUnavailableError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    header = (
        f"Dataset `{dataset.name}`: {len(dataset.queries)} queries; {len(kept)} of "
        f"{len(sections)} sections ({len(asked)} answering a query, "
        f"{len(kept) - len(asked)} of {len(sections) - len(asked)} others: share "
        f"{options.distractor_share:g}, seed {options.seed}), {sum(len(s.text) for s in kept):,} "
        f"characters; embeddings {model.model_id}; vector search; "
        f"{time.perf_counter() - started:.0f} s in all."
    )
    table = to_markdown(results, header)
    sys.stdout.write(table)
    if options.output is not None:
        _append(options.output, table, argv)
    return 0


def _valid(size: int, overlap: int) -> bool:
    try:
        check_sizes(size, overlap)
    except ValueError:
        return False
    return True


def _append(output: Path, table: str, argv: Sequence[str] | None) -> None:
    arguments = " ".join(sys.argv[1:] if argv is None else argv)
    append_section(
        output,
        f"Command: `chatbot eval chunking {arguments}`\n\n{table}",
        title="Chunking evaluation",
        command="chatbot eval chunking",
        when=SystemClock().now(),
    )


if __name__ == "__main__":
    sys.exit(main())
