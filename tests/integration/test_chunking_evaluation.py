"""The chunking evaluation: sections rebuilt from the corpus, re-cut by the real chunker, new
chunks judged by character overlap, and a small end-to-end run with a fake model."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from chatbot.evaluation.chunking import (
    CorpusSection,
    SpannedChunk,
    answer_spans,
    budget_coverage,
    compact,
    main,
    rechunk,
    sections_of,
)
from chatbot.evaluation.dataset import DatasetError, Passage, RetrievalDataset, load_dataset
from tests.integration.embedding_models import HashedWords


@pytest.fixture(scope="module")
def faq() -> RetrievalDataset:
    return load_dataset()


def test_every_section_is_rebuilt_from_its_passages_in_order(faq: RetrievalDataset) -> None:
    sections = sections_of(faq)
    assert len({s.source for s in sections}) == len(sections)
    by_source = {s.source: s for s in sections}
    for passage in faq.passages[:500]:
        section = by_source[passage.source]
        start, end = section.passages[passage.id]
        assert compact(section.text)[start:end] == compact(passage.text)


def test_a_section_split_apart_in_the_corpus_is_refused() -> None:
    passages = tuple(
        Passage(id=f"p{n}", title="T", text=f"text {n}", source=source)
        for n, source in enumerate(["a", "b", "a"])
    )
    with pytest.raises(DatasetError, match="not consecutive"):
        sections_of(RetrievalDataset("x", passages, (), {}))


def test_rechunked_spans_point_at_the_chunks_own_characters(faq: RetrievalDataset) -> None:
    section = max(sections_of(faq)[:200], key=lambda s: len(s.text))
    chunks = rechunk(section, 400, 100)
    assert len(chunks) > 2
    text = compact(section.text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == compact(chunk.content)
    # In order, each reaching further; some share a sentence with the chunk before (the
    # overlap carries only sentences that fit in it, so not every boundary has one).
    pairs = list(itertools.pairwise(chunks))
    assert all(a.start < b.start and a.end < b.end for a, b in pairs)
    assert any(b.start < a.end for a, b in pairs)


def test_every_relevant_passage_has_an_answer_span(faq: RetrievalDataset) -> None:
    answers = answer_spans(faq, sections_of(faq))
    for query in faq.queries:
        judged = [p for p, grade in faq.qrels[query.id].items() if grade > 0]
        assert len(answers[query.id]) == len(judged)


def chunk(source: str, start: int, end: int) -> SpannedChunk:
    return SpannedChunk(f"{source}@{start}", source, start, end, "", "")


def test_budget_coverage_counts_answer_characters_within_the_budget_once() -> None:
    answer = [("a", 100, 200)]
    ranking = [chunk("b", 0, 50), chunk("a", 50, 150), chunk("a", 120, 220)]
    # 50 spent on b, 100 on a[50:150] (50 answer chars), 50 left: a[120:170] adds 20 new.
    assert budget_coverage(ranking, answer, 200) == (0.7, True)
    assert budget_coverage(ranking, answer, 50) == (0.0, False)
    assert budget_coverage(ranking, answer, 1000) == (1.0, True)


def test_the_command_scores_each_valid_setting_and_appends_the_table(tmp_path: Path) -> None:
    output = tmp_path / "chunking.md"
    argv = [
        "--sizes",
        "400,800",
        "--overlaps",
        "0,300",
        "--distractor-share",
        "0.02",
        "--limit-queries",
        "8",
        "--output",
        str(output),
    ]
    assert main(argv, embeddings=HashedWords) == 0
    text = output.read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \| \d+ \|", line)]
    # 400/300 is refused by the chunker (overlap must be under half the size): not run.
    assert [row.split("|")[1:3] for row in rows] == [
        [" 400 ", " 0 "],
        [" 800 ", " 0 "],
        [" 800 ", " 300 "],
    ]
    ndcg = [float(row.split("|")[6]) for row in rows]
    assert all(0 < value <= 1 for value in ndcg)
    assert "Command: `chatbot eval chunking --sizes 400,800" in text


def test_sections_are_plain_data() -> None:
    section = CorpusSection("s", "T", "One. Two.", {"p": (0, 7)})
    assert rechunk(section, 400, 0)[0].embedding_text == "T\n\nOne. Two."
