"""Whole prose sentences out of Markdown: what an extractive answer may quote.

A document chunk is Markdown cut from a longer page: headings (as ``#`` lines, or as the bare
lines the chunker keeps for sub-headings), lists, tables, code, and prose. Only prose is
quoted, and only whole sentences of it:

- skipped: headings, setext underlines, table rows, fenced and indented code, HTML lines;
- a list item loses its marker, and its first sentence is used only when it reads as a
  sentence (it has a verb, and is not a ``term: description`` entry);
- a sentence is whole when it starts with a capital, a digit or inline markup, ends with
  ``.`` or ``!`` (a question is not an answer; a ``:`` introduces something cut off), has a
  few words and balanced inline Markdown.

Sentences are split after ``.``, ``!`` or ``?`` followed by a space and a capital, digit or
markup, but never inside a code span, a link or image (``[text](url)``), an autolink, a bare
URL or bold text (each is masked before the split, so a ``.`` in it is not seen), never
after an abbreviation (``e.g.``, ``i.e.``, ``vs.``...) or an initial, and never inside a
version or decimal number (``3.11``: no space follows its ``.``). Markdown is kept as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s|$)")
_UNDERLINE = re.compile(r"^\s{0,3}(?:=+|-+|\*+|_+)\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$")
_HTML_LINE = re.compile(r"^\s*</?[A-Za-z][^>]*>\s*$")
_LIST_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,9}[.)])\s+")
_QUOTE = re.compile(r"^\s*>\s?")
# An interactive session (a doctest): its lines, and the output lines after them, are code.
_PROMPT = re.compile(r"^\s*(?:>>>|\.\.\.)(?:\s|$)")
# Inline Markdown that a sentence boundary must not cut: code spans, images and links,
# autolinks, bare URLs, bold text.
_PROTECTED = re.compile(
    r"(`+)[^`].*?\1(?!`)"
    r"|!?\[[^\]\n]*\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"
    r"|<[a-z][a-z0-9+.-]*:[^>\s]*>"
    r"|https?://[^\s<>()]*[^\s<>().,;:!?'\"*_]"
    r"|\*\*[^*\n]+?\*\*"
)
_MASK = "\ue000"
# The end of a sentence: its mark and any closing quotes, brackets or emphasis, then space,
# then what may start a sentence.
_BOUNDARY = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]*_]*(?=\s+[\"'\u201c\u2018(\[*_`A-Z0-9" + _MASK + r"])"
)
_ABBREVIATION_WORDS = (
    "e.g i.e vs cf viz approx incl esp al fig eq sec ch vol pp mr mrs ms dr prof st"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_START = re.compile(r"^[\"'\u201c\u2018(\[*_`A-Z0-9]")
_END = re.compile(r"[.!][\"'\u201d\u2019)\]*_]*$")
_WORD = re.compile(r"[A-Za-z0-9][\w'-]*")
MIN_WORDS = 4
# Words outside code spans and links: a sentence that is a command in backticks is not prose.
MIN_PROSE_WORDS = 3
# A list item's first sentence is quoted only if it has one of these (a verb): without a
# tagger this is a short list of the auxiliaries and the verbs documentation uses most.
_VERB_WORDS = (
    "is are was were be been being has have had do does did can cannot could will would "
    "shall should may might must need needs keep keeps kept hold holds carry carries take "
    "takes make makes get gets go goes run runs read reads write writes send sends store "
    "stores stored use uses used give gives show shows say says find finds call "
    "calls create creates delete deletes return returns start starts stop stops stays "
    "stay becomes become means mean lets let sets set applies apply expire expires "
    "contain contains include includes lists list counts count names records"
)
_VERBS = frozenset(_VERB_WORDS.split())
# ``term: description`` (or ``**term**: ...``), a glossary entry rather than a sentence.
_DEFINITION = re.compile(r"^(?:\S+\s+){0,5}?\S*:\s+[a-z`(]")


@dataclass
class _Block:
    lines: list[str] = field(default_factory=list)
    indent: int = 0
    list_item: bool = False
    code: bool = False


def prose_sentences(markdown: str) -> list[str]:
    """The whole sentences of ``markdown``'s prose, in order, each on one line."""
    sentences: list[str] = []
    for block in _blocks(markdown):
        if block.code or not block.lines:
            continue
        text = " ".join(line.strip() for line in block.lines)
        for position, sentence in enumerate(split_sentences(text)):
            if is_whole_sentence(sentence) and not (
                block.list_item and position == 0 and not _reads_as_sentence(sentence)
            ):
                sentences.append(sentence)
    return sentences


def split_sentences(text: str) -> list[str]:
    """``text`` cut into sentences at their ends, never inside protected inline Markdown."""
    masked = _PROTECTED.sub(lambda found: _MASK * len(found.group()), text)
    pieces: list[str] = []
    start = 0
    for found in _BOUNDARY.finditer(masked):
        if found.group().startswith(".") and _is_abbreviation(masked[start : found.start()]):
            continue
        pieces.append(text[start : found.end()].strip())
        start = found.end()
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def is_whole_sentence(sentence: str) -> bool:
    """Whether ``sentence`` reads as a whole one: see the module's docstring."""
    return (
        bool(_START.match(sentence))
        and bool(_END.search(sentence))
        and len(_WORD.findall(sentence)) >= MIN_WORDS
        and len(_WORD.findall(_PROTECTED.sub(" ", sentence))) >= MIN_PROSE_WORDS
        and _balanced(sentence)
        and not _is_abbreviation(sentence.rstrip("*_")[:-1])
        and not _is_label(sentence)
    )


def _blocks(markdown: str) -> list[_Block]:
    """Paragraphs and list items, headings, tables and code marked or left out."""
    blocks: list[_Block] = []
    current: _Block | None = None
    fence: str | None = None
    for raw in markdown.splitlines():
        if _PROMPT.match(raw):
            if current is None:
                current = _Block()
                blocks.append(current)
            current.code = True
            continue
        line = _QUOTE.sub("", raw, count=1)
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence, current = opening.group(1), None
            continue
        if not line.strip():
            current = None
            continue
        if _UNDERLINE.match(line):
            # Under a paragraph line it makes that line a heading; alone, it is a rule.
            if current is not None and current.lines:
                current.lines.pop()
            current = None
            continue
        if _ATX_HEADING.match(line) or _TABLE_RULE.match(line) or _HTML_LINE.match(line):
            current = None
            continue
        if _pipes_outside_code(line) >= 2:
            current = None  # a table row
            continue
        indent = len(line) - len(line.lstrip())
        item = _LIST_ITEM.match(line)
        if item:
            current = _Block(indent=len(item.group()), list_item=True)
            blocks.append(current)
            line = line[item.end() :]
        elif current is None:
            current = _Block(indent=indent, code=indent >= 4)
            blocks.append(current)
        elif indent >= current.indent + 4:
            current.code = True  # an indented code block (its first line's indent was lost)
        current.lines.append(line)
    return blocks


def _pipes_outside_code(line: str) -> int:
    return _PROTECTED.sub("", line).count("|")


def _is_abbreviation(before: str) -> bool:
    words = before.split()
    last = words[-1].lower().lstrip("(\"'") if words else ""
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def _balanced(sentence: str) -> bool:
    rest = _PROTECTED.sub("", sentence)
    return (
        "`" not in rest
        and rest.count("**") % 2 == 0
        and rest.count("[") == rest.count("]")
        and rest.count("(") == rest.count(")")
    )


def _is_label(sentence: str) -> bool:
    """A bold run-in label (``**Local (default).**``) rather than a sentence."""
    return sentence.startswith("**") and sentence.rstrip().endswith("**")


def _reads_as_sentence(sentence: str) -> bool:
    words = {word.lower() for word in _WORD.findall(_PROTECTED.sub(" ", sentence))}
    return bool(words & _VERBS) and not _DEFINITION.match(sentence)
