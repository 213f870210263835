"""The retrieval evaluation end to end on small runs: keyword search beside BM25, and the
vector path with a deterministic fake model (the real model's full run is a benchmark)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatbot.evaluation.dataset import (
    Judgement,
    Passage,
    Query,
    RetrievalDataset,
    load_dataset,
)
from chatbot.evaluation.retrieval import (
    OUR_HYBRID,
    OUR_KEYWORD,
    OUR_VECTOR,
    REFERENCE_KEYWORD,
    REFERENCE_VECTOR,
    Bm25Reference,
    append_result,
    evaluate,
    hybrid_name,
    main,
    markdown,
    parse_hybrid_weights,
)
from chatbot.rank_fusion import HYBRID_WEIGHTS
from tests.integration.embedding_models import HashedWords


@pytest.fixture(scope="module")
def faq_subset() -> RetrievalDataset:
    return load_dataset().first_queries(20)


def test_keyword_search_and_bm25_both_find_answers_in_a_20_query_run(
    faq_subset: RetrievalDataset,
) -> None:
    report = evaluate(faq_subset, None)

    assert [result.system for result in report.results] == [OUR_KEYWORD, REFERENCE_KEYWORD]
    for result in report.results:
        assert result.queries == 20
        # The FAQ questions share words with their answers often enough that both find some.
        assert 0.1 < result.ndcg <= 1.0
        assert 0.1 < result.recall <= 1.0
    assert report.embedding_model is None


def test_our_vector_search_ranks_exactly_as_the_numpy_reference(
    faq_subset: RetrievalDataset,
) -> None:
    # A few hundred passages keep the fake model's pure-Python embedding quick.
    relevant = {p for grades in faq_subset.qrels.values() for p in grades}
    passages = (
        tuple(p for p in faq_subset.passages if p.id in relevant)
        + tuple(p for p in faq_subset.passages if p.id not in relevant)[:300]
    )
    small = RetrievalDataset("faq-small", passages, faq_subset.queries, faq_subset.qrels)

    report = evaluate(small, HashedWords(128))

    systems = [result.system for result in report.results]
    default_hybrid = hybrid_name(HYBRID_WEIGHTS)
    assert systems == [OUR_VECTOR, REFERENCE_VECTOR, OUR_KEYWORD, REFERENCE_KEYWORD, default_hybrid]
    ours, reference = report.result(OUR_VECTOR), report.result(REFERENCE_VECTOR)
    assert ours.ndcg == pytest.approx(reference.ndcg)
    assert ours.recall == pytest.approx(reference.recall)
    assert report.embedding_model == "fake-hashed-words-128"


class CountingQueries(HashedWords):
    def __init__(self) -> None:
        super().__init__(128)
        self.queries: list[str] = []

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return super().embed_query(text)


def test_each_query_is_embedded_once_for_the_three_systems_that_need_it(
    faq_subset: RetrievalDataset,
) -> None:
    small = RetrievalDataset(
        "faq-small", faq_subset.passages[:50], faq_subset.queries[:5], faq_subset.qrels
    )
    model = CountingQueries()

    evaluate(small, model)

    # embed_documents (the corpus) calls embed_query too in this fake: count queries only.
    asked = [text for text in model.queries if text in {q.text for q in small.queries}]
    assert sorted(asked) == sorted(query.text for query in small.queries)


def test_bm25_reference_returns_only_passages_that_match() -> None:
    passages = [
        Passage(id="cat", title="", text="the cat sat on the mat", source="a"),
        Passage(id="python", title="", text="python is a language", source="b"),
    ]
    reference = Bm25Reference(passages)

    assert reference.rank("which language is python", 10) == ["python"]
    assert reference.rank("the", 10) == []  # a stop word only


def test_a_judged_set_loads_from_its_three_files(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        Passage(id="p1", title="T", text="answer", source="s").model_dump_json() + "\n"
    )
    (tmp_path / "queries.jsonl").write_text(
        Query(id="q1", text="question").model_dump_json()
        + "\n"
        + Query(id="q2", text="unjudged").model_dump_json()
        + "\n"
    )
    (tmp_path / "qrels.jsonl").write_text(
        Judgement(query_id="q1", passage_id="p1", relevance=1).model_dump_json() + "\n"
    )

    dataset = load_dataset(tmp_path)

    assert [query.id for query in dataset.queries] == ["q1"]  # q2 has nothing to find
    assert dataset.qrels == {"q1": {"p1": 1}}


def test_the_report_is_appended_under_a_dated_heading(
    faq_subset: RetrievalDataset, tmp_path: Path
) -> None:
    output = tmp_path / "results" / "retrieval-eval.md"
    report = evaluate(faq_subset.first_queries(3), None)

    append_result(report, output, when=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    append_result(report, output, when=datetime(2026, 1, 3, 3, 4, tzinfo=UTC))

    text = output.read_text(encoding="utf-8")
    assert text.startswith("# Retrieval evaluation\n")
    assert text.count("## 2026-01-0") == 2
    assert f"| {OUR_KEYWORD} |" in text


def test_the_command_prints_the_table_and_appends_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "eval.md"

    code = main(["--keyword-only", "--limit-queries", "5", "--output", str(output)])

    assert code == 0
    printed = capsys.readouterr().out
    assert "| system | nDCG@10 | recall@10 | nDCG@10 tuning | nDCG@10 held-out |" in printed
    assert f"| {REFERENCE_KEYWORD} |" in printed
    assert printed in output.read_text(encoding="utf-8")


def test_the_command_refuses_a_missing_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--keyword-only", "--data", str(tmp_path / "absent")]) == 2
    assert "cannot read the dataset" in capsys.readouterr().err


def test_hybrid_weights_parse_as_vector_keyword_pairs() -> None:
    assert parse_hybrid_weights("1:1, 1:0.5") == [(1.0, 1.0), (1.0, 0.5)]
    for bad in ("1", "1:-1", "0:0", "a:1"):
        with pytest.raises(ValueError, match=r"VECTOR:KEYWORD|weights must be"):
            parse_hybrid_weights(bad)


def test_each_hybrid_weighting_is_scored_on_its_own_row(faq_subset: RetrievalDataset) -> None:
    small = RetrievalDataset(
        "faq-small", faq_subset.passages[:300], faq_subset.queries[:5], faq_subset.qrels
    )
    report = evaluate(small, HashedWords(128), hybrid_weights=[(1.0, 1.0), (1.0, 0.0)])

    assert report.result(hybrid_name((1.0, 1.0))).system == OUR_HYBRID
    # Keyword weight 0: the fusion keeps the vector ranking's order.
    assert report.result(hybrid_name((1.0, 0.0))).ndcg == report.result(OUR_VECTOR).ndcg


def test_the_report_scores_both_splits_picks_a_weighting_on_tuning_and_tabulates_refusals(
    faq_subset: RetrievalDataset,
) -> None:
    small = RetrievalDataset(
        "faq-small",
        faq_subset.passages[:300],
        faq_subset.queries[:20],
        faq_subset.qrels,
        (Query(id="none/a", text="brake pads"), Query(id="none/b", text="cricket rules")),
    )
    report = evaluate(small, HashedWords(128), hybrid_weights=[(0.7, 0.3), (0.5, 0.5)])

    vector = report.result(OUR_VECTOR)
    assert set(vector.split_ndcg) == {"tuning", "held-out"}
    best = report.best_hybrid()
    assert best is not None
    assert best.split_ndcg["tuning"] == max(
        r.split_ndcg["tuning"] for r in report.results if r.system.startswith("hybrid")
    )
    assert [s.answerable for s in report.refusal_samples].count(False) == 2
    text = markdown([report], current_min_score=0.3)
    assert f"Chosen on the tuning split: {best.system}" in text
    assert "| faq-small | held-out | 0.30 |" in text
    assert "RAG_MIN_SCORE chosen on the tuning split" in text
