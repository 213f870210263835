"""Readers of Markdown, plain text, HTML and PDF files into titled sections of text."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PyPdfError


@dataclass(frozen=True)
class Section:
    """Text under one heading; ``heading_path`` runs from the top-level heading down."""

    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Document:
    source: str
    title: str
    sections: list[Section] = field(default_factory=list)


class UnreadableFileError(Exception):
    """A file that cannot be ingested: binary, not UTF-8, damaged or of an unsupported type."""


@dataclass(frozen=True)
class FoundFile:
    path: Path
    source: str


_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*['\"]?(.*?)['\"]?\s*$")


def read_text_file(path: Path) -> str:
    """The file's text, if it is UTF-8 (a BOM is allowed) and not binary."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFileError(error.strerror or str(error)) from error
    # A NUL byte never occurs in text but almost always in binary formats.
    if b"\x00" in data:
        raise UnreadableFileError("binary content")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFileError("not UTF-8 text") from error


def parse_markdown(text: str, source: str, default_title: str) -> Document:
    """Sections by ATX (``#``) and setext headings; nothing inside a fenced code block is
    read as a heading. A front-matter ``title:`` or the first level-1 heading is the title."""
    lines = text.splitlines()
    title = ""
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is not None:
            for line in lines[1:end]:
                found = _FRONT_MATTER_TITLE.match(line)
                if found:
                    title = found.group(1)
            lines = lines[end + 1 :]
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    fence: str | None = None

    def flush() -> None:
        content = "\n".join(body).strip("\n")
        if content.strip():
            sections.append(Section(tuple(heading for _, heading in stack), content))
        body.clear()

    def open_heading(level: int, heading: str) -> None:
        nonlocal title
        flush()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        if level == 1 and not title:
            title = heading

    for line in lines:
        fence_mark = _FENCE.match(line)
        if fence is not None:
            body.append(line)
            # A fence closes with the same character, at least as long as it opened.
            mark = fence_mark.group(1) if fence_mark else ""
            if mark[:1] == fence[0] and len(mark) >= len(fence):
                fence = None
            continue
        if fence_mark:
            fence = fence_mark.group(1)
            body.append(line)
            continue
        heading = _ATX_HEADING.match(line)
        if heading:
            open_heading(len(heading.group(1)), (heading.group(2) or "").strip())
            continue
        underline = _SETEXT_UNDERLINE.match(line)
        # A setext heading is one paragraph line underlined; a `---` after a blank line is a
        # thematic break instead.
        if underline and body and body[-1].strip() and not _is_block_start(body[-1]):
            heading_text = body.pop().strip()
            open_heading(1 if underline.group(1)[0] == "=" else 2, heading_text)
            continue
        body.append(line)
    flush()
    return Document(source, title or default_title, sections)


def _is_block_start(line: str) -> bool:
    # A list item or quote line followed by `---` is not a setext heading.
    return bool(re.match(r"^\s*([-*+>]|\d+[.)])\s", line))


def parse_plain_text(text: str, source: str, default_title: str) -> Document:
    """One section, paragraphs kept as they are (the chunker splits on blank lines)."""
    content = text.strip()
    return Document(source, default_title, [Section((), content)] if content else [])


# Elements whose text is never content: code, styling, navigation and page furniture. Not
# <form>: some sites (ASP.NET Web Forms) wrap the whole page in one.
_SKIPPED_TAGS = frozenset(
    {"script", "style", "nav", "noscript", "template", "svg", "iframe", "head"}
)
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
# Elements that end a paragraph: their text is not run into the neighbours'.
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "ul", "ol",
        "li", "table", "tr", "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption",
        "br", "hr", "td", "th",
    }
)  # fmt: skip
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}


class _HTMLSections(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.first_h1 = ""
        self.sections: list[Section] = []
        self._stack: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._text: list[str] = []
        self._skip_depth = 0
        self._in_title = False
        self._heading: tuple[int, list[str]] | None = None
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif self._skip_depth:
            return
        elif tag in _HEADING_TAGS:
            self._end_paragraph()
            self._heading = (_HEADING_TAGS[tag], [])
        elif tag in _BLOCK_TAGS:
            self._end_paragraph()
            if tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS and not self._skip_depth:
            self._end_paragraph()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED_TAGS:
            self._skip_depth = max(self._skip_depth - 1, 0)
        elif self._skip_depth:
            return
        elif tag in _HEADING_TAGS and self._heading is not None:
            level, parts = self._heading
            self._heading = None
            self._open_section(level, " ".join("".join(parts).split()))
        elif tag in _BLOCK_TAGS:
            self._end_paragraph()
            if tag == "pre":
                self._pre_depth = max(self._pre_depth - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._skip_depth:
            return
        elif self._heading is not None:
            self._heading[1].append(data)
        else:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._flush_section()
        self.title = " ".join(self.title.split())

    def _end_paragraph(self) -> None:
        raw = "".join(self._text)
        self._text.clear()
        # Inside <pre> line breaks are content; elsewhere whitespace is layout.
        paragraph = raw.strip("\n") if self._pre_depth else " ".join(raw.split())
        if paragraph.strip():
            self._paragraphs.append(paragraph)

    def _flush_section(self) -> None:
        self._end_paragraph()
        if self._paragraphs:
            path = tuple(heading for _, heading in self._stack)
            self.sections.append(Section(path, "\n\n".join(self._paragraphs)))
        self._paragraphs = []

    def _open_section(self, level: int, heading: str) -> None:
        self._flush_section()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, heading))
        if level == 1 and not self.first_h1:
            self.first_h1 = heading


def parse_html(text: str, source: str, default_title: str) -> Document:
    """Sections by ``h1`` to ``h6``; scripts, styles and navigation dropped; title from
    ``<title>``, else the first ``h1``."""
    parser = _HTMLSections()
    parser.feed(text)
    parser.close()
    title = parser.title or parser.first_h1 or default_title
    return Document(source, title, parser.sections)


def read_pdf(path: Path, source: str) -> Document:
    """One section per page with text (scanned pages without a text layer yield nothing)."""
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableFileError("encrypted PDF")
        metadata_title = reader.metadata.title if reader.metadata else None
        pages = [page.extract_text() for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError) as error:
        # pypdf raises several kinds on damaged files; none of them should end the run.
        raise UnreadableFileError(f"damaged PDF ({error})") from error
    sections = [Section((), text.strip()) for text in pages if text and text.strip()]
    title = " ".join(str(metadata_title or "").split()) or path.stem
    return Document(source, title, sections)


def _text_reader(
    parse: Callable[[str, str, str], Document],
) -> Callable[[Path, str], Document]:
    def read(path: Path, source: str) -> Document:
        return parse(read_text_file(path), source, path.stem)

    return read


READERS: dict[str, Callable[[Path, str], Document]] = {
    ".md": _text_reader(parse_markdown),
    ".markdown": _text_reader(parse_markdown),
    ".txt": _text_reader(parse_plain_text),
    ".text": _text_reader(parse_plain_text),
    ".html": _text_reader(parse_html),
    ".htm": _text_reader(parse_html),
    ".pdf": read_pdf,
}


def read_document(found: FoundFile) -> Document:
    """The file's document; ``UnreadableFileError`` if it cannot be read."""
    reader = READERS.get(found.path.suffix.lower())
    if reader is None:
        raise UnreadableFileError(f"unsupported file type {found.path.suffix or '(none)'!r}")
    return reader(found.path, found.source)


def find_files(paths: Iterable[Path], *, cwd: Path | None = None) -> Iterator[FoundFile]:
    """Every file under ``paths``, in a stable order, hidden files and folders left out.

    A source never names the machine: a file found in a folder has the folder's name joined
    to its path within the folder, so the source is the same wherever the folder sits and
    files of two folders do not collide; a file named directly is named relative to the
    current directory (``cwd``) when it is under it, else by its file name.
    """
    here = (cwd or Path.cwd()).resolve()
    for path in paths:
        if not path.is_dir():
            yield FoundFile(path, file_source(path, here))
            continue
        root = path.resolve()
        for directory, folders, files in os.walk(root):
            folders[:] = sorted(name for name in folders if not name.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                file_path = Path(directory) / name
                relative = file_path.relative_to(root.parent)
                yield FoundFile(file_path, relative.as_posix())


def file_source(path: Path, cwd: Path) -> str:
    """The source of a file named directly: its path below ``cwd`` (resolved), else its
    name (a path outside the current directory says where a machine keeps it)."""
    resolved = path.resolve()
    if resolved.is_relative_to(cwd) and resolved != cwd:
        return resolved.relative_to(cwd).as_posix()
    return path.name
