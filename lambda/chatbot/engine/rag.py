"""Grounding an answer in the user's documents: the numbered-sources prompt and its citations."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from chatbot.engine.extractive import cite
from chatbot.engine.sentences import prose_sentences
from chatbot.records import Citation, DocumentChunk

# The grounded prompt's fixed markers; the offline model reads its sources back through them.
SOURCES_HEADING = "Sources:"
QUESTION_HEADING = "Question:"
_SOURCE_LINE = re.compile(r"^\[(\d+)\] \((?P<source>[^)\n]*)\)\n", re.MULTILINE)
EXCERPT_CHARS = 280

NOTHING_FOUND = (
    "I could not find anything about that in the documents, so I cannot answer it from them. "
    "Try other words, or ask me without referring to the documents."
)


# A question this short that leans on words like these refers back to the one before it ("and
# how do I remove it?", "what about the second one?"): searching for it alone finds nothing.
FOLLOW_UP_MAX_WORDS = 10
_REFERRING_WORDS = re.compile(
    r"\b(it|its|this|that|these|those|they|them|their|there|he|she|one|ones|same|more|"
    r"also|else|again|above|previous|former|latter)\b",
    re.IGNORECASE,
)


def is_follow_up(question: str) -> bool:
    """Whether ``question`` is a short one that leans on the one before it."""
    return len(question.split()) <= FOLLOW_UP_MAX_WORDS and bool(_REFERRING_WORDS.search(question))


def search_query(question: str, previous_question: str | None) -> str:
    """What to search the documents for: the question, joined by the previous one when the
    question is a follow-up to it."""
    if previous_question and is_follow_up(question):
        return f"{previous_question.strip()} {question.strip()}"
    return question


def grounded_prompt(question: str, chunks: Sequence[DocumentChunk]) -> str:
    """The user's turn as the model sees it on the RAG path: numbered sources, then the question."""
    blocks = [
        f"[{n}] ({chunk.source})\n{chunk.content.strip()}" for n, chunk in enumerate(chunks, 1)
    ]
    return (
        f"{SOURCES_HEADING}\n\n"
        + "\n\n".join(blocks)
        + f"\n\n{QUESTION_HEADING} {question.strip()}\n\n"
        "Answer from the sources above only. Cite each source you use as [n] right after "
        "what it supports, one number per bracket ([1][3], not [1, 3]). If they do not "
        "contain the answer, say so."
    )


def parse_grounded_prompt(prompt: str) -> tuple[str, list[tuple[int, str, str]]] | None:
    """(question, [(number, source, text)]) from a grounded prompt, or None for any other text."""
    if not prompt.startswith(SOURCES_HEADING) or f"\n\n{QUESTION_HEADING} " not in prompt:
        return None
    body, _, tail = prompt.rpartition(f"\n\n{QUESTION_HEADING} ")
    question = tail.split("\n\n", 1)[0].strip()
    matches = list(_SOURCE_LINE.finditer(body))
    sources = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(body)
        sources.append(
            (int(match.group(1)), match.group("source"), body[match.end() : end].strip())
        )
    return question, sources


def citations(
    chunks: Sequence[DocumentChunk], cited: Collection[int] | None = None, answer: str = ""
) -> list[Citation]:
    """The citations of an answer: ``id`` is the number the prompt gave the chunk, so ``[n]``
    in the answer refers to the citation whose ``id`` is ``n`` (the protocol's promise).
    With ``cited``, only the chunks of those numbers (chatbot.engine.grounding), in rank order:
    the numbers keep their gaps rather than be renumbered, as the text already streamed.
    An excerpt starts at the first sentence ``answer`` quotes from its chunk, if it quotes one
    word for word (the offline model does), so that the cited words are the ones shown."""
    return [
        Citation(
            id=str(number),
            source=chunk.source,
            score=round(chunk.score, 4),
            excerpt=_excerpt(chunk.content, _first_quoted(chunk.content, number, answer)),
        )
        for number, chunk in enumerate(chunks, 1)
        if cited is None or number in cited
    ]


def sources_of(chunks: Sequence[DocumentChunk], cited: Collection[int] | None = None) -> list[str]:
    """Distinct sources in the order the chunks rank (with ``cited``, of those chunks only)."""
    return list(
        dict.fromkeys(
            chunk.source
            for number, chunk in enumerate(chunks, 1)
            if cited is None or number in cited
        )
    )


def _first_quoted(text: str, number: int, answer: str) -> str | None:
    if f"[{number}]" not in answer:
        return None
    return next((s for s in prose_sentences(text) if cite(s, number) in answer), None)


def _excerpt(text: str, start_at: str | None = None) -> str:
    """``text`` on one line, from ``start_at`` if given, cut between words to fit."""
    flat = " ".join(text.split())
    lead = ""
    if start_at is not None and (start := flat.find(" ".join(start_at.split()))) > 0:
        flat, lead = flat[start:], "…"
    if len(lead) + len(flat) <= EXCERPT_CHARS:
        return lead + flat
    cut = flat[: EXCERPT_CHARS - len(lead) - 1]
    return lead + (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
