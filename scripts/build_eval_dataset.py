"""Builds the retrieval evaluation set (tests/data/python_faq) from Debian's python3.11-doc.

Queries are the questions of Python's FAQ (their headings), each relevant to the chunks of
its own answer (the section's body, without the heading); the corpus is those answers plus
distractor passages from the tutorial, the HOWTOs and some library pages of the same manual.

    python scripts/build_eval_dataset.py                 # apt-get download into a temp dir
    python scripts/build_eval_dataset.py --deb FILE.deb  # or from a .deb already fetched

Only the standard library and the Debian tools (apt-get, dpkg-deb) are used, so the data can
be rebuilt on any Debian machine; the output is committed, the .deb and its tree are not.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

PACKAGE = "python3.11-doc"
HTML_ROOT = Path("usr/share/doc/python3.11/html")
COPYRIGHT = Path("usr/share/doc/python3.11-doc/copyright")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "python_faq"

FAQ_PAGES = (
    "general",
    "programming",
    "design",
    "library",
    "extending",
    "windows",
    "gui",
    "installed",
)
# Distractors: pages that talk about the same things as the FAQ (so retrieval must tell an
# answer from a passage that merely shares its words), a few thousand passages in all.
DISTRACTOR_GLOBS = ("tutorial/*.html", "howto/*.html")
# Long pages far from the FAQ's subjects: they would add embedding time, not difficulty.
DISTRACTOR_EXCLUDED = frozenset(
    {"howto/clinic", "howto/instrumentation", "howto/isolating-extensions"}
)
DISTRACTOR_LIBRARY = (
    "functions",
    "stdtypes",
    "exceptions",
    "os",
    "os.path",
    "pathlib",
    "shutil",
    "sys",
    "re",
    "string",
    "collections",
    "itertools",
    "functools",
    "threading",
    "subprocess",
    "json",
    "random",
    "math",
    "io",
    "pickle",
    "tkinter",
    "venv",
    "pdb",
    "timeit",
    "copy",
    "weakref",
    "gc",
)

CHUNK_CHARS = 800
# Answers shorter than this say too little to be found by meaning ("Yes.", "See X.").
MIN_ANSWER_CHARS = 80
# An answer with less text than this outside its links is only a pointer elsewhere.
MIN_UNLINKED_CHARS = 60

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Elements that end a run of text: their text becomes a block of its own.
_BLOCK_TAGS = _HEADINGS | {
    *("p", "pre", "li", "dt", "dd", "tr", "th", "td", "div", "blockquote"),
    *("table", "ul", "ol", "dl", "caption", "section"),
}
_SPACES = re.compile(r"\s+")
# A heading that asks: ends with a question mark, or names a task ("How to use ...").
_QUESTION = re.compile(r"\?$|^(How to|When to|Where to|What happens) ")
_HEADING_TEXT = re.compile(r"<h[2-6]>(.*?)<a class=\"headerlink\"")
# Release notes ask about old versions; the FAQ is read on its own; the rest may ask.
_NO_QUESTIONS = frozenset({"whatsnew", "faq", "c-api"})
_QUESTION_INDEXES = frozenset({"installing/index", "distributing/index"})


@dataclass
class Section:
    """A Sphinx ``<section>``: its heading, its own text blocks, and its subsections."""

    anchor: str
    title: str = ""
    blocks: list[str] = field(default_factory=list)
    unlinked_chars: int = 0
    children: list[Section] = field(default_factory=list)


class SphinxPageParser(HTMLParser):
    """Splits a Sphinx HTML page's body into nested sections of text blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page_title = ""
        self.root = Section(anchor="")
        self._stack: list[Section] = [self.root]
        self._buffer: list[str] = []
        self._heading: list[str] | None = None
        self._in_title = False
        self._pre_depth = 0
        self._link_depth = 0
        # (tag, depth): the contents list and permalink markers would leak the questions.
        self._skip: tuple[str, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        if tag == "title":
            self._in_title = True
        if len(self._stack) == 1:
            if tag == "section":
                self._open_section(attributes.get("id") or "")
            return
        if (tag in {"nav", "div"} and ("contents" in classes or "topic" in classes)) or (
            tag == "a" and "headerlink" in classes
        ):
            self._skip = (tag, 1)
            return
        if tag in {"span"} and "linenos" in classes:
            self._skip = (tag, 1)
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "section":
            self._open_section(attributes.get("id") or "")
        elif tag in _HEADINGS:
            self._heading = []
        elif tag == "pre":
            self._pre_depth += 1
        elif tag == "a":
            self._link_depth += 1
        elif tag == "br":
            self._buffer.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip is not None:
            if tag == self._skip[0]:
                depth = self._skip[1] - 1
                self._skip = None if depth == 0 else (tag, depth)
            return
        if tag == "title":
            self._in_title = False
        if len(self._stack) == 1:
            return
        if tag in _HEADINGS and self._heading is not None:
            if not self._stack[-1].title:
                self._stack[-1].title = _clean("".join(self._heading))
            self._heading = None
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "section":
            self._stack.pop()
        elif tag == "pre":
            self._pre_depth -= 1
        elif tag == "a":
            self._link_depth = max(self._link_depth - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.page_title += data
        if self._skip is not None or len(self._stack) == 1:
            return
        if self._heading is not None:
            self._heading.append(data)
            return
        self._buffer.append(data)
        if self._link_depth == 0:
            self._stack[-1].unlinked_chars += len(data.strip())

    def _open_section(self, anchor: str) -> None:
        section = Section(anchor=anchor)
        self._stack[-1].children.append(section)
        self._stack.append(section)

    def _flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        # Code keeps its lines; prose is one line of single spaces.
        text = text.strip("\n").rstrip() if self._pre_depth else _clean(text)
        if text.strip():
            self._stack[-1].blocks.append(text)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def parse_page(path: Path) -> tuple[str, Section]:
    parser = SphinxPageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    # "Programming FAQ — Python 3.11.2 documentation": the part before the dash.
    title = _clean(parser.page_title).split(" \u2014 ")[0]
    return title, parser.root


def walk(section: Section) -> list[Section]:
    found = [section]
    for child in section.children:
        found.extend(walk(child))
    return found


def chunk_blocks(blocks: list[str], size: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs packed into chunks of about ``size`` characters; long ones split by line."""
    pieces: list[str] = []
    for block in blocks:
        if len(block) <= size * 3 // 2:
            pieces.append(block)
            continue
        current = ""
        for line in block.split("\n"):
            if current and len(current) + len(line) + 1 > size:
                pieces.append(current)
                current = ""
            current = f"{current}\n{line}" if current else line
        if current.strip():
            pieces.append(current)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) + 2 > size:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


@dataclass
class Dataset:
    corpus: list[dict[str, str]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    qrels: list[dict[str, str | int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add_passages(self, page: str, title: str, section: Section) -> list[str]:
        ids = []
        for number, text in enumerate(chunk_blocks(section.blocks)):
            passage_id = f"{page}#{section.anchor}:{number}"
            source = f"{page}.html#{section.anchor}"
            self.corpus.append({"id": passage_id, "title": title, "text": text, "source": source})
            ids.append(passage_id)
        return ids


def question_of(section: Section, *, faq: bool) -> str | None:
    """The question a section answers, or None: FAQ leaves, elsewhere question headings."""
    if section.children or not section.title:
        return None
    title = section.title
    if not faq and not _QUESTION.search(title):
        return None
    # "… install packages just for the current user?" sits under "How do I …?".
    if title.startswith("\u2026"):
        title = "How do I " + title.lstrip("\u2026 ")
    return title


def add_page(dataset: Dataset, html: Path, page: str, *, faq: bool) -> None:
    title, root = parse_page(html / f"{page}.html")
    top = root.children
    for section in walk(root):
        if section is root or not section.blocks:
            continue
        # The page's own heading and, in the FAQ, category headings ("Core Language") are
        # never questions; their text (if any) is a distractor like any other passage.
        question = None if section in top else question_of(section, faq=faq)
        answer = "\n\n".join(section.blocks)
        if question is not None:
            if len(answer) < MIN_ANSWER_CHARS or section.unlinked_chars < MIN_UNLINKED_CHARS:
                dataset.skipped.append(f"{page}#{section.anchor} (answer too short or a link)")
                question = None
            elif _clean(question).casefold() in _clean(answer).casefold():
                dataset.skipped.append(f"{page}#{section.anchor} (question inside the answer)")
                question = None
        passage_ids = dataset.add_passages(page, title, section)
        if question is None:
            continue
        query_id = f"{page}#{section.anchor}"
        dataset.queries.append({"id": query_id, "text": question})
        for passage_id in passage_ids:
            dataset.qrels.append({"query_id": query_id, "passage_id": passage_id, "relevance": 1})


def build(html: Path) -> Dataset:
    dataset = Dataset()
    for name in FAQ_PAGES:
        add_page(dataset, html, f"faq/{name}", faq=True)
    pages = {p for pattern in DISTRACTOR_GLOBS for p in html.glob(pattern)}
    pages |= {html / "library" / f"{name}.html" for name in DISTRACTOR_LIBRARY}
    # Question headings elsewhere in the manual ("How to use placeholders ...", "What is
    # curses?") add human-written queries beyond the FAQ's; their whole pages come along.
    for path in html.glob("*/*.html"):
        if path.parent.name not in _NO_QUESTIONS and any(
            _QUESTION.search(_clean(heading))
            for heading in _HEADING_TEXT.findall(path.read_text(encoding="utf-8"))
        ):
            pages.add(path)
    for path in sorted(pages):
        page = path.relative_to(html).with_suffix("").as_posix()
        if page in DISTRACTOR_EXCLUDED:
            continue
        if not page.endswith("/index") or page in _QUESTION_INDEXES:
            add_page(dataset, html, page, faq=False)
    return dataset


def download(directory: Path) -> Path:
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise SystemExit("apt-get not found: pass --deb with a downloaded python3.11-doc .deb")
    subprocess.run([apt_get, "download", PACKAGE], cwd=directory, check=True)  # noqa: S603
    return next(directory.glob(f"{PACKAGE}_*.deb"))


def dpkg_deb(*arguments: str) -> str:
    executable = shutil.which("dpkg-deb")
    if executable is None:
        raise SystemExit("dpkg-deb not found (a Debian machine is needed)")
    result = subprocess.run(  # noqa: S603  (fixed tool, arguments are paths we chose)
        [executable, *arguments], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def write_jsonl(path: Path, rows: list[dict[str, str]] | list[dict[str, str | int]]) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--deb", type=Path, help=f"a {PACKAGE} .deb (default: apt-get download)")
    arguments.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    options = arguments.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        deb = options.deb or download(directory)
        version = dpkg_deb("--field", str(deb), "Version")
        dpkg_deb("--extract", str(deb), str(directory / "tree"))
        dataset = build(directory / "tree" / HTML_ROOT)
        licence_head = (directory / "tree" / COPYRIGHT).read_text(encoding="utf-8")[:200]
    options.output.mkdir(parents=True, exist_ok=True)
    write_jsonl(options.output / "corpus.jsonl", dataset.corpus)
    write_jsonl(options.output / "queries.jsonl", dataset.queries)
    write_jsonl(options.output / "qrels.jsonl", dataset.qrels)
    sys.stdout.write(
        f"{PACKAGE} {version}: {len(dataset.queries)} queries, {len(dataset.corpus)} passages, "
        f"{len(dataset.qrels)} qrels; skipped {len(dataset.skipped)} questions\n"
    )
    for reason in dataset.skipped:
        sys.stdout.write(f"  skipped {reason}\n")
    sys.stdout.write(f"copyright file begins: {licence_head[:80]!r}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
