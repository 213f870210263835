"""Builds the second retrieval set (tests/data/gnu_manpages) from GNU manual pages.

The corpus is the section-1 manual pages of Debian's coreutils, findutils, sed and tar
packages (all GPL-3+), rendered to text by man-db and cut into passages of about 800
characters at option and paragraph boundaries. Queries and their judgements come from
``questions.tsv`` beside the output: each question names its page and one or more phrases
("needles") of the passages that answer it; a passage of that page containing a needle is
relevant. A needle that matches no passage, or more than ``--max-matches``, stops the build.

    python scripts/build_manpage_dataset.py            # from the installed packages
    python scripts/build_manpage_dataset.py --root DIR # from .debs unpacked into DIR

Only the standard library and man-db (``man``, ``col``) are used. The same package versions
(recorded in the output's README) give the same files.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("coreutils", "findutils", "sed", "tar")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "gnu_manpages"
TARGET = 800
LONGEST = 1200
# Boilerplate every page repeats (or a list of other pages): not passages.
SKIPPED_SECTIONS = frozenset(
    {"NAME", "SYNOPSIS", "AUTHOR", "AUTHORS", "REPORTING BUGS", "COPYRIGHT", "SEE ALSO"}
)
# Pages that repeat another page word for word (ls's aliases, test's other name, a copy of
# md5sum's) or say next to nothing: they would only make an answer's passage ambiguous.
EXCLUDED_PAGES = frozenset({"[", "dir", "vdir", "md5sum.textutils", "tarcat"})
_HEADING = re.compile(r"^[A-Z][A-Z0-9 ,/&'-]*$")


@dataclass
class Unit:
    """An option with its description, or a paragraph of prose: never split across passages
    unless longer than ``LONGEST`` alone."""

    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (man-db and bsdextrautils provide it)")
    return found


def package_pages(package: str, root: Path) -> list[Path]:
    listing = subprocess.run(  # noqa: S603  (fixed tools, arguments we chose)
        [_tool("dpkg-query"), "-L", package], check=True, capture_output=True, text=True
    ).stdout.split()
    pages = [line for line in listing if re.fullmatch(r"/usr/share/man/man1/[^/]+\.1\.gz", line)]
    return sorted(root / page.lstrip("/") for page in pages)


def render(page: Path) -> str:
    environment = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    manual = subprocess.run(  # noqa: S603
        [_tool("man"), "--nh", "--nj", "-E", "UTF-8", "-P", "cat", "-l", str(page)],
        check=True,
        capture_output=True,
        env=environment,
    ).stdout
    return subprocess.run(  # noqa: S603
        [_tool("col"), "-bx"], input=manual, check=True, capture_output=True, env=environment
    ).stdout.decode()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def sections(text: str) -> dict[str, list[list[str]]]:
    """Section heading -> its paragraphs (each a list of raw lines), header and footer gone."""
    lines = text.splitlines()[1:-1]
    found: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    paragraph: list[str] = []
    for line in [*lines, ""]:
        if line and _indent(line) == 0 and _HEADING.match(line.strip()):
            current = found.setdefault(line.strip(), [])
            paragraph = []
            continue
        if not line.strip():
            if paragraph and current is not None:
                current.append(paragraph)
            paragraph = []
            continue
        paragraph.append(line)
    return found


def _flatten(lines: list[str]) -> str:
    return " ".join(" ".join(line.split()) for line in lines)


def units(paragraphs: list[list[str]]) -> list[Unit | None]:
    """Options and prose in order; None marks a subsection heading (a passage boundary)."""
    found: list[Unit | None] = []
    for paragraph in paragraphs:
        first = _indent(paragraph[0])
        if first <= 3 and len(paragraph) == 1:
            found.append(None)
            found.append(Unit([_flatten(paragraph)]))
            continue
        deeper = [n for n, line in enumerate(paragraph) if _indent(line) > first]
        if paragraph[0].lstrip().startswith("-") and deeper:
            head = _flatten(paragraph[: deeper[0]])
            found.append(Unit([head, _flatten(paragraph[deeper[0] :])]))
        elif first > 7 and found and found[-1] is not None:
            found[-1].paragraphs.append(_flatten(paragraph))
        else:
            found.append(Unit([_flatten(paragraph)]))
    return found


def passages_of(found: list[Unit | None]) -> list[str]:
    """Units packed into passages of about ``TARGET`` characters."""
    passages: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            passages.append("\n\n".join(current))
            current.clear()

    for unit in found:
        if unit is None:
            close()
            continue
        text = unit.text
        if len(text) > LONGEST:
            close()
            for paragraph in unit.paragraphs:
                if current and len("\n".join(current)) + len(paragraph) > TARGET:
                    close()
                current.append(paragraph)
            close()
            continue
        if current and sum(len(part) + 2 for part in current) + len(text) > TARGET:
            close()
        current.append(text)
    close()
    return passages


def build_corpus(root: Path) -> list[dict[str, str]]:
    corpus: list[dict[str, str]] = []
    for package in PACKAGES:
        for page in package_pages(package, root):
            name = page.name.removesuffix(".1.gz")
            if name in EXCLUDED_PAGES:
                continue
            found = sections(render(page))
            summary = _flatten(found.get("NAME", [[name]])[0])
            for heading, paragraphs in found.items():
                if heading in SKIPPED_SECTIONS:
                    continue
                slug = heading.lower().replace(" ", "-")
                for number, text in enumerate(passages_of(units(paragraphs))):
                    corpus.append(
                        {
                            "id": f"{name}#{slug}:{number}",
                            "title": summary,
                            "text": text,
                            "source": f"{name}.1#{slug}",
                        }
                    )
    return corpus


def judge(
    corpus: list[dict[str, str]], questions: Path, max_matches: int
) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    queries: list[dict[str, str]] = []
    qrels: list[dict[str, object]] = []
    problems: list[str] = []
    with questions.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            page, query_id = row["page"], row["id"]
            relevant: list[str] = []
            for needle in row["needles"].split(" | "):
                matches = [
                    p["id"]
                    for p in corpus
                    if p["source"].startswith(f"{page}.1#") and needle in p["text"]
                ]
                if not matches or len(matches) > max_matches:
                    problems.append(f"{query_id}: {needle!r} is in {len(matches)} passages")
                relevant += [m for m in matches if m not in relevant]
            queries.append({"id": query_id, "text": row["question"]})
            qrels += [{"query_id": query_id, "passage_id": p, "relevance": 1} for p in relevant]
    if problems:
        raise SystemExit("\n".join(problems))
    return queries, qrels


def write_jsonl(path: Path, rows: list[dict[str, str]] | list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path("/"), help="where the pages lie")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--max-matches", type=int, default=3)
    options = parser.parse_args()
    corpus = build_corpus(options.root)
    options.output.mkdir(parents=True, exist_ok=True)
    write_jsonl(options.output / "corpus.jsonl", corpus)
    questions = options.output / "questions.tsv"
    if questions.is_file():
        queries, qrels = judge(corpus, questions, options.max_matches)
        write_jsonl(options.output / "queries.jsonl", queries)
        write_jsonl(options.output / "qrels.jsonl", qrels)
        sys.stdout.write(f"{len(queries)} queries, {len(qrels)} judgements\n")
    sys.stdout.write(f"{len(corpus)} passages\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
