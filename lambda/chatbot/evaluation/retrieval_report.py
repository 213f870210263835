"""What ``chatbot eval retrieval`` measured, and its Markdown table (one per corpus)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from chatbot.evaluation.refusal import Sample
from chatbot.evaluation.splits import HELD_OUT, TUNING, Split

CUTOFF: Final = 10
HYBRID_PREFIX: Final = "hybrid: "


@dataclass(frozen=True)
class SystemResult:
    system: str
    ndcg: float
    recall: float
    queries: int
    seconds: float
    # The same means over each split's questions (``chatbot.evaluation.splits``).
    split_ndcg: Mapping[Split, float] = field(default_factory=dict)
    split_recall: Mapping[Split, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrievalReport:
    dataset: str
    passages: int
    queries: int
    embedding_model: str | None
    embedding_seconds: float
    query_embedding_seconds: float
    results: tuple[SystemResult, ...]
    # Best cosines of the answerable and unanswerable questions (``chatbot.evaluation.refusal``).
    refusal_samples: tuple[Sample, ...] = ()

    def result(self, system: str) -> SystemResult:
        return next(result for result in self.results if result.system == system)

    def best_hybrid(self) -> SystemResult | None:
        """The hybrid row of the best nDCG on the tuning split (ties: the first listed)."""
        hybrids = [r for r in self.results if r.system.startswith(HYBRID_PREFIX)]
        if not hybrids:
            return None
        return max(hybrids, key=lambda r: r.split_ndcg.get(TUNING, 0.0))

    def to_markdown(self) -> str:
        model = (
            f"embeddings {self.embedding_model} (corpus embedded in "
            f"{self.embedding_seconds:.1f} s, queries in {self.query_embedding_seconds:.1f} s, "
            "before the searches are timed; 0 s: read from the cache)"
            if self.embedding_model
            else "no embeddings (keyword search only)"
        )
        lines = [
            f"Dataset `{self.dataset}`: {self.queries} queries, {self.passages} passages; "
            f"{model}; cut-off {CUTOFF}.",
            "",
            f"| system | nDCG@{CUTOFF} | recall@{CUTOFF} | nDCG@{CUTOFF} tuning "
            f"| nDCG@{CUTOFF} held-out | recall@{CUTOFF} held-out | queries | seconds |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r.system} | {r.ndcg:.3f} | {r.recall:.3f} | "
            f"{r.split_ndcg.get(TUNING, 0.0):.3f} | {r.split_ndcg.get(HELD_OUT, 0.0):.3f} | "
            f"{r.split_recall.get(HELD_OUT, 0.0):.3f} | {r.queries} | {r.seconds:.1f} |"
            for r in self.results
        ]
        best = self.best_hybrid()
        if best is not None:
            singles = [r for r in self.results if not r.system.startswith(HYBRID_PREFIX)]
            ours = [r for r in singles if ": ours" in r.system]
            rival = max(ours, key=lambda r: r.split_ndcg.get(HELD_OUT, 0.0))
            lead = best.split_ndcg.get(HELD_OUT, 0.0) - rival.split_ndcg.get(HELD_OUT, 0.0)
            lines += [
                "",
                f"Chosen on the tuning split: {best.system} (tuning nDCG@{CUTOFF} "
                f"{best.split_ndcg.get(TUNING, 0.0):.3f}); on the held-out split "
                f"{best.split_ndcg.get(HELD_OUT, 0.0):.3f}, {lead:+.3f} over the better "
                f"single search ({rival.system}, {rival.split_ndcg.get(HELD_OUT, 0.0):.3f}).",
            ]
        return "\n".join(lines) + "\n"
