"""Splitting documents into overlapping chunks of whole sentences, within top-level sections.

Sizes are in characters. The defaults, 1,200 with no overlap, are what `chatbot eval
chunking` measured best (bench/results/chunking-eval.md): on the python_faq questions, whose
answers are whole sections of about 1,200 characters, vector search found more of the
answer within the same prompt budget of characters with 1,200-character chunks than with
400, 800 or 1,000 (1,600 was no better), and overlap of 100 or 200 characters bought nothing
at 800 or 1,200 while it spent budget on repeated text. all-MiniLM-L6-v2, the local model,
reads at most 256 word pieces (about 1,000 characters of English prose), so about half of
1,200-character chunks are embedded from their first 1,000 characters or so; the evaluation
ran with that model and includes that loss. The whole chunk is still stored, searched by
keywords and cited. Titan v2 reads far more.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from itertools import groupby

from chatbot.ingest.readers import Document, Section

DEFAULT_CHUNK_SIZE = 1200
DEFAULT_OVERLAP = 0
# Below this a chunk holds too little to embed meaningfully.
MIN_CHUNK_SIZE = 50

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (with closing quotes or brackets) followed by whitespace and a
# capital, digit or opening quote: "e.g. the" and "3.5 mm" are not read as boundaries.
_SENTENCE_BREAK = re.compile(
    r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*"  # the end mark, closing quotes, brackets
    r"(\s+)"  # the separator
    r"(?=[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u00de])"  # the next sentence's start
)
_WORD_BREAK = re.compile(r"\s+")
_PARAGRAPH_JOIN = "\n\n"


@dataclass(frozen=True)
class Chunk:
    id: str
    document_id: str
    source: str
    title: str
    position: int
    heading_path: tuple[str, ...]
    # The chunk's own text, what is stored, searched by keywords and cited.
    content: str

    @property
    def embedding_text(self) -> str:
        """What is embedded: the heading path first, so a chunk carries its context."""
        if not self.heading_path:
            return self.content
        return " > ".join(self.heading_path) + _PARAGRAPH_JOIN + self.content

    @property
    def content_hash(self) -> str:
        """The digest of ``embedding_text``: what the vector was made from.

        The stores keep it beside the vector and the ingestion compares it to decide what to
        embed again, so a renamed heading re-embeds the chunks under it even when their text
        is unchanged. (Of a chunk with no heading path it is the digest of ``content``.)
        """
        return hashlib.sha256(self.embedding_text.encode()).hexdigest()


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an over-long one), or a sub-heading line."""

    text: str
    # What joins it to the unit before it in the same chunk.
    separator: str
    section: int
    heading: bool = False


def document_id_of(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def chunk_id_of(source: str, position: int) -> str:
    """Stable across runs: a re-ingested file overwrites its chunks in place."""
    return hashlib.sha256(f"{source}\x00{position}".encode()).hexdigest()


def chunk_document(
    document: Document, *, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP
) -> list[Chunk]:
    """The document's chunks in order: each at most ``size`` characters of whole sentences
    (a sentence longer than ``size`` is split between words), the next starting with up to
    ``overlap`` characters of the previous one's last sentences, never across a top-level
    heading."""
    check_sizes(size, overlap)
    pieces: list[tuple[tuple[str, ...], str]] = []
    sections = [section for section in document.sections if section.text.strip()]
    # Consecutive sections under the same top-level heading may share a chunk.
    for _, group in groupby(enumerate(sections), key=lambda item: item[1].heading_path[:1]):
        members = list(group)
        units = _units([section for _, section in members], size)
        for first, content in _pack(units, size, overlap):
            pieces.append((members[first][1].heading_path, content))
    document_id = document_id_of(document.source)
    return [
        Chunk(
            id=chunk_id_of(document.source, position),
            document_id=document_id,
            source=document.source,
            title=document.title,
            position=position,
            heading_path=heading_path,
            content=content,
        )
        for position, (heading_path, content) in enumerate(pieces)
    ]


def check_sizes(size: int, overlap: int) -> None:
    """``ValueError`` unless ``chunk_document`` can work with these sizes."""
    if size < MIN_CHUNK_SIZE:
        raise ValueError(f"chunk size must be at least {MIN_CHUNK_SIZE}, not {size}")
    if not 0 <= overlap < size // 2:
        raise ValueError(f"overlap must be at least 0 and under half the size, not {overlap}")


def split_sentences(paragraph: str) -> list[tuple[str, str]]:
    """(separator before it, sentence) pairs; the separators are the original whitespace."""
    result: list[tuple[str, str]] = []
    start = 0
    separator = ""
    for found in _SENTENCE_BREAK.finditer(paragraph):
        result.append((separator, paragraph[start : found.start(1)]))
        separator = found.group(1)
        start = found.end(1)
    result.append((separator, paragraph[start:]))
    return [(sep, sentence) for sep, sentence in result if sentence]


def _units(sections: list[Section], size: int) -> list[_Unit]:
    units: list[_Unit] = []
    for index, section in enumerate(sections):
        if index > 0 and section.heading_path:
            # A sub-heading inside a chunk is kept as a line of its own, so a chunk that
            # runs on into the next subsection still says where it is.
            units.append(_Unit(section.heading_path[-1], _PARAGRAPH_JOIN, index, heading=True))
        for paragraph in _PARAGRAPH_BREAK.split(section.text):
            if not paragraph.strip():
                continue
            for sentence_number, (separator, sentence) in enumerate(split_sentences(paragraph)):
                # A chunk's first unit drops its separator (see _join).
                lead = _PARAGRAPH_JOIN if sentence_number == 0 else separator
                for piece_number, (piece_separator, piece) in enumerate(_fit(sentence, size)):
                    units.append(
                        _Unit(piece, lead if piece_number == 0 else piece_separator, index)
                    )
    return units


def _fit(sentence: str, size: int) -> list[tuple[str, str]]:
    """(separator, piece) pairs of at most ``size`` characters: the sentence whole if it
    fits, else split at line breaks (a diagram, a table, code keeps its lines), and lines
    still too long between words."""
    if len(sentence) <= size:
        return [("", sentence)]
    pieces: list[tuple[str, str]] = []
    for line_number, line in enumerate(sentence.split("\n")):
        line_separator = "\n" if line_number else ""
        if len(line) <= size:
            if line.strip():
                pieces.append((line_separator, line))
            continue
        for word_number, piece in enumerate(_split_words(line, size)):
            pieces.append((line_separator if word_number == 0 else " ", piece))
    return pieces


def _split_words(line: str, size: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for word in _WORD_BREAK.split(line.strip()):
        while len(word) > size:
            # A "word" longer than a chunk (a URL, a hash) has no better place to break.
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:size])
            word = word[size:]
        if not word:
            continue
        if current and len(current) + 1 + len(word) > size:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def _length(units: list[_Unit]) -> int:
    return sum(len(unit.text) for unit in units) + sum(len(unit.separator) for unit in units[1:])


def _join(units: list[_Unit]) -> str:
    return units[0].text + "".join(unit.separator + unit.text for unit in units[1:])


def _pack(units: list[_Unit], size: int, overlap: int) -> list[tuple[int, str]]:
    """Greedy packing into (section index of the first unit, text) chunks."""
    chunks: list[tuple[int, str]] = []
    current: list[_Unit] = []
    fresh = 0  # units of current not carried over from the chunk before as overlap
    for index, unit in enumerate(units):
        if unit.heading:
            following = units[index + 1 : index + 2]
            if fresh and _length([*current, unit, *following]) <= size:
                current.append(unit)
                fresh += 1
                continue
            # Otherwise the heading starts a chunk, whose heading path already names it: no
            # line for it, and no overlap from the subsection before.
            if fresh:
                chunks.append(_emit(current))
            current, fresh = [], 0
            continue
        if current and _length([*current, unit]) > size:
            if fresh:
                chunks.append(_emit(current))
            current, fresh = _overlap(current, overlap), 0
            while current and _length([*current, unit]) > size:
                current.pop(0)
        current.append(unit)
        fresh += 1
    if fresh:
        chunks.append(_emit(current))
    return chunks


def _emit(units: list[_Unit]) -> tuple[int, str]:
    # A chunk never starts with a heading line (see _pack), so its first unit's section is
    # where it belongs.
    return units[0].section, _join(units)


def _overlap(units: list[_Unit], overlap: int) -> list[_Unit]:
    """The last whole sentences of ``units`` within ``overlap`` characters, no headings."""
    tail: list[_Unit] = []
    for unit in reversed(units):
        if unit.heading or _length([unit, *tail]) > overlap:
            break
        tail.insert(0, unit)
    return tail
