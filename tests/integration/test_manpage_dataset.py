"""The second labelled set (tests/data/gnu_manpages) and the unanswerable questions of both:
complete, consistent, small and fair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from chatbot.evaluation.dataset import (
    DEFAULT_DATASETS,
    DatasetError,
    Judgement,
    Passage,
    Query,
    load_dataset,
)

_, MANPAGES = DEFAULT_DATASETS


def test_it_has_over_100_questions_each_answered_by_a_passage_of_its_page() -> None:
    dataset = load_dataset(MANPAGES)
    with (MANPAGES / "questions.tsv").open(encoding="utf-8", newline="") as rows:
        questions = {row["id"]: row for row in csv.DictReader(rows, delimiter="\t")}
    assert len(dataset.queries) >= 100
    assert [q.id for q in dataset.queries] == list(questions)  # none dropped, same order
    passages = {p.id: p for p in dataset.passages}
    for query in dataset.queries:
        row = questions[query.id]
        assert query.text == row["question"]
        relevant = [passages[p] for p, grade in dataset.qrels[query.id].items() if grade > 0]
        assert relevant, query.id
        for passage in relevant:
            assert passage.source.startswith(f"{row['page']}.1#")
            assert any(needle in passage.text for needle in row["needles"].split(" | "))
            # The question is the user's wording, not the page's.
            assert query.text.casefold() not in passage.text.casefold()


def test_the_corpus_is_small_and_says_where_it_comes_from() -> None:
    size = sum(path.stat().st_size for path in MANPAGES.iterdir())
    assert size < 1_000_000
    readme = (MANPAGES / "README.md").read_text(encoding="utf-8")
    assert "GPL-3+" in readme
    assert "scripts/build_manpage_dataset.py" in readme


@pytest.mark.parametrize("directory", DEFAULT_DATASETS, ids=lambda d: d.name)
def test_each_set_has_unanswerable_questions_without_judgements(directory: Path) -> None:
    dataset = load_dataset(directory)
    assert len(dataset.unanswerable) >= 25
    judged = {q.id for q in dataset.queries}
    assert all(q.id not in judged and q.id not in dataset.qrels for q in dataset.unanswerable)


def test_a_judged_unanswerable_question_is_refused(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        Passage(id="p1", title="", text="t", source="s").model_dump_json() + "\n"
    )
    (tmp_path / "queries.jsonl").write_text(Query(id="q1", text="q").model_dump_json() + "\n")
    (tmp_path / "qrels.jsonl").write_text(
        Judgement(query_id="q1", passage_id="p1", relevance=1).model_dump_json()
        + "\n"
        + Judgement(query_id="u1", passage_id="p1", relevance=1).model_dump_json()
        + "\n"
    )
    (tmp_path / "unanswerable.jsonl").write_text(json.dumps({"id": "u1", "text": "u"}) + "\n")
    with pytest.raises(DatasetError, match="unknown query"):
        load_dataset(tmp_path)
    (tmp_path / "qrels.jsonl").write_text(
        Judgement(query_id="q1", passage_id="p1", relevance=1).model_dump_json() + "\n"
    )
    (tmp_path / "unanswerable.jsonl").write_text(json.dumps({"id": "q1", "text": "u"}) + "\n")
    with pytest.raises(DatasetError, match="duplicate query"):
        load_dataset(tmp_path)
