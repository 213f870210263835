"""A labelled retrieval set on disk (BEIR's layout, as JSON lines): corpus, queries, qrels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

_DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
# The set built by scripts/build_eval_dataset.py, in the repository beside the package.
DEFAULT_DATASET = _DATA / "python_faq"
# Every labelled set, of different kinds of text: a choice that helps one and hurts another
# shows. The second is built by scripts/build_manpage_dataset.py.
DEFAULT_DATASETS = (DEFAULT_DATASET, _DATA / "gnu_manpages")


class Passage(BaseModel):
    """A corpus entry: what is indexed (title and text) and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    text: str
    source: str


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    text: str


class Judgement(BaseModel):
    """One qrel: ``passage_id`` answers ``query_id`` with a graded ``relevance`` (0 = not)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query_id: str
    passage_id: str
    relevance: int


_Row = TypeVar("_Row", bound=BaseModel)


class DatasetError(ValueError):
    """The files are not a consistent retrieval set."""


@dataclass(frozen=True)
class RetrievalDataset:
    name: str
    passages: tuple[Passage, ...]
    queries: tuple[Query, ...]
    # query id -> passage id -> relevance
    qrels: Mapping[str, Mapping[str, int]]
    # Questions no passage answers (``unanswerable.jsonl``): the RAG path should refuse them.
    unanswerable: tuple[Query, ...] = ()

    def first_queries(self, count: int) -> RetrievalDataset:
        """The same corpus with only the first ``count`` queries of each kind (a quicker,
        partial run)."""
        queries = self.queries[:count]
        kept = {query.id for query in queries}
        qrels = {query_id: grades for query_id, grades in self.qrels.items() if query_id in kept}
        return RetrievalDataset(self.name, self.passages, queries, qrels, self.unanswerable[:count])


def _read_jsonl(path: Path, model: type[_Row]) -> list[_Row]:
    rows: list[_Row] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(model.model_validate_json(line))
            except ValueError as error:
                raise DatasetError(f"{path}:{number}: {error}") from error
    return rows


def _unique_ids(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise DatasetError(f"duplicate {kind} id {item!r}")
        seen.add(item)


def load_dataset(directory: Path = DEFAULT_DATASET) -> RetrievalDataset:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.jsonl``, checking they agree.

    Queries without a relevant passage are dropped, as BEIR drops them: they would score 0
    whatever the system does.
    """
    passages = _read_jsonl(directory / "corpus.jsonl", Passage)
    queries = _read_jsonl(directory / "queries.jsonl", Query)
    judgements = _read_jsonl(directory / "qrels.jsonl", Judgement)
    _unique_ids("passage", [passage.id for passage in passages])
    _unique_ids("query", [query.id for query in queries])
    passage_ids = {passage.id for passage in passages}
    query_ids = {query.id for query in queries}
    qrels: dict[str, dict[str, int]] = {}
    for judgement in judgements:
        if judgement.query_id not in query_ids:
            raise DatasetError(f"a qrel names the unknown query {judgement.query_id!r}")
        if judgement.passage_id not in passage_ids:
            raise DatasetError(f"a qrel names the unknown passage {judgement.passage_id!r}")
        qrels.setdefault(judgement.query_id, {})[judgement.passage_id] = judgement.relevance
    judged = tuple(
        query for query in queries if any(grade > 0 for grade in qrels.get(query.id, {}).values())
    )
    unanswerable_file = directory / "unanswerable.jsonl"
    unanswerable = (
        tuple(_read_jsonl(unanswerable_file, Query)) if unanswerable_file.is_file() else ()
    )
    # (A judgement of an unanswerable question names an unknown query: refused above.)
    _unique_ids("query", [query.id for query in queries] + [q.id for q in unanswerable])
    return RetrievalDataset(directory.name, tuple(passages), judged, qrels, unanswerable)
