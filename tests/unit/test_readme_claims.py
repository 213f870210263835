"""Claims of the README that code decides: what `make bench` runs, and how hybrid search fuses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from chatbot.rank_fusion import FUSION_WINDOW, HYBRID_WEIGHTS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def bench_commands() -> list[str]:
    """Each script the Makefile's bench target runs with its switches (options that take no
    value), as `bench/x.py --a --b`."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    commands = []
    for line in recipe:
        words = shlex.split(line.strip())
        script = next(word for word in words if word.startswith("bench/"))
        rest = words[words.index(script) + 1 :]
        switches = [
            word
            for position, word in enumerate(rest)
            if word.startswith("--")
            and (position + 1 == len(rest) or rest[position + 1].startswith("--"))
        ]
        commands.append(" ".join([script, *switches]))
    return commands


def test_the_bench_target_is_read_as_its_commands() -> None:
    assert "bench/gateway.py --budget" in bench_commands()


def test_the_testing_section_names_every_command_make_bench_runs() -> None:
    testing = section("Testing")
    missing = [command for command in bench_commands() if f"`{command}`" not in testing]
    assert not missing, f"README §Testing does not say make bench runs {missing}"


def hybrid_sentence() -> str:
    """The RAG section's words on hybrid search, from "a hybrid of both" to the next "."
    that ends a sentence, on one line."""
    rag = " ".join(section("Your documents (RAG)").split())
    start = rag.index("a hybrid of both by")
    return rag[start : rag.index(". ", start) + 1]


def test_the_readme_says_hybrid_search_fuses_scaled_scores_with_the_codes_weights() -> None:
    vector, keyword = HYBRID_WEIGHTS
    sentence = hybrid_sentence()
    assert "score fusion" in sentence and "min-max" in sentence
    assert f"best {FUSION_WINDOW} results" in sentence
    assert f"{vector:g} x its scaled vector score + {keyword:g} x its scaled keyword" in sentence


def test_no_doc_calls_the_hybrid_search_rank_fusion() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    stale = [
        path.name
        for path in docs
        if re.search(r"hybrid[^.]*reciprocal rank fusion", path.read_text(encoding="utf-8"))
    ]
    assert not stale
