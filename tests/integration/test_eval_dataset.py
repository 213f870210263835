"""The committed retrieval set (tests/data/python_faq) is complete, consistent and fair."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chatbot.evaluation.dataset import DEFAULT_DATASET, RetrievalDataset, load_dataset

_SPACES = re.compile(r"\s+")


def _rows(name: str) -> list[dict[str, object]]:
    with (DEFAULT_DATASET / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _normalised(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


@pytest.fixture(scope="module")
def dataset() -> RetrievalDataset:
    return load_dataset()


def test_the_default_dataset_is_the_committed_python_faq() -> None:
    committed = Path(__file__).resolve().parents[1] / "data" / "python_faq"
    assert committed == DEFAULT_DATASET


def test_it_has_at_least_200_queries_each_with_a_relevant_passage(
    dataset: RetrievalDataset,
) -> None:
    assert len(dataset.queries) >= 200
    assert len(dataset.queries) == len(_rows("queries.jsonl"))  # none dropped for lack of qrels
    for query in dataset.queries:
        assert any(grade > 0 for grade in dataset.qrels[query.id].values())


def test_the_corpus_holds_thousands_of_distractors_besides_the_answers(
    dataset: RetrievalDataset,
) -> None:
    relevant = {passage for grades in dataset.qrels.values() for passage in grades}
    assert len(dataset.passages) - len(relevant) >= 2000


def test_every_qrel_names_an_existing_query_and_passage() -> None:
    query_ids = {row["id"] for row in _rows("queries.jsonl")}
    passage_ids = {row["id"] for row in _rows("corpus.jsonl")}
    qrels = _rows("qrels.jsonl")
    assert qrels
    for row in qrels:
        assert row["query_id"] in query_ids
        assert row["passage_id"] in passage_ids
        assert row["relevance"] in {1, 2}


def test_no_id_repeats() -> None:
    for name in ("queries.jsonl", "corpus.jsonl"):
        ids = [row["id"] for row in _rows(name)]
        assert len(ids) == len(set(ids)), name
    pairs = [(row["query_id"], row["passage_id"]) for row in _rows("qrels.jsonl")]
    assert len(pairs) == len(set(pairs))


def test_no_query_appears_verbatim_in_a_passage_relevant_to_it(
    dataset: RetrievalDataset,
) -> None:
    texts = {passage.id: _normalised(passage.text) for passage in dataset.passages}
    for query in dataset.queries:
        for passage_id in dataset.qrels[query.id]:
            assert _normalised(query.text) not in texts[passage_id], query.id


def test_the_files_stay_small_and_say_where_they_come_from() -> None:
    total = sum(path.stat().st_size for path in DEFAULT_DATASET.iterdir())
    assert total < 5 * 1024 * 1024
    readme = (DEFAULT_DATASET / "README.md").read_text(encoding="utf-8")
    assert "python3.11-doc" in readme
    assert "PSF License" in readme
