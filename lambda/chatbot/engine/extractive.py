"""The offline model's answer from the documents: the source sentences that best match the
question, quoted whole (chatbot.engine.sentences), each with the [n] of the chunk it is from."""

from __future__ import annotations

import re

from chatbot.engine.grounding import cited_numbers
from chatbot.engine.sentences import prose_sentences

ANSWER_SENTENCES = 3
# A sentence scoring under this share of the best one is left out rather than padding.
KEEP_SHARE = 0.5
# A sentence longer than this is a run-on that would swamp the answer: not quoted.
MAX_SENTENCE_CHARS = 500
LEAD = "From the documents:"
CLOSEST = "The closest passage I found says:"

# A sentence that opens by pointing back ("It never scans...", "Without it, ...") says less
# on its own, quoted without the one before it.
_LEANS_BACK = re.compile(
    r"^(?:\w+ )?(?:it|its|this|that|these|those|they|them|their|then|there|here|such)\b",
    re.IGNORECASE,
)
LEANING_WEIGHT = 0.6
_WORD = re.compile(r"[a-z0-9]+")
# A sentence's end: the citation goes before it, "... 14 days [1]."
_TAIL = re.compile(r"[.!][\"'\u201d\u2019)\]*_]*$")
_STOPWORD_TEXT = (
    "a an and are as at be by do does for from how i in is it of on or the this that to "
    "was what when where which who why with you your can about did not no my me we our "
    "there their they them its according doc docs document documents documentation say "
    "says tell"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def extractive_answer(
    question: str, sources: list[tuple[int, str, str]], sentences: int = ANSWER_SENTENCES
) -> str:
    """The sentences of ``sources`` ((number, source, text), best ranked first) that share
    most words with ``question``, in document order, each followed by its ``[number]``."""
    wanted = _terms(question, skip=_STOPWORDS)
    seen: set[str] = set()
    scored: list[tuple[float, int, int, str]] = []
    for rank, (number, _, text) in enumerate(sources):
        for position, sentence in enumerate(prose_sentences(text)):
            key = " ".join(sentence.lower().split())
            if key in seen or cited_numbers(sentence) or len(sentence) > MAX_SENTENCE_CHARS:
                # The same sentence in an overlapping chunk: cited once, the best. One with
                # a "[2]" of its own (an index in unquoted code) would read as a citation.
                # (A run-on is left out, but the closest passage may still be one.)
                continue
            seen.add(key)
            terms = _terms(sentence)
            overlap = len(wanted & terms)
            if overlap:
                # Shared words, lightly favouring shorter sentences and better-ranked sources.
                score = overlap / (1 + len(terms)) ** 0.5 - 0.01 * rank
                if _LEANS_BACK.match(sentence):
                    score *= LEANING_WEIGHT
                scored.append((score, number, position, sentence))
    if not scored:
        return _closest(sources)
    scored.sort(key=lambda item: -item[0])
    best = [item for item in scored[:sentences] if item[0] >= KEEP_SHARE * scored[0][0]]
    # In document order, so that the answer reads as the documents do.
    best.sort(key=lambda item: (item[1], item[2]))
    return f"{LEAD} " + " ".join(cite(sentence, number) for _, number, _, sentence in best)


def cite(sentence: str, number: int) -> str:
    """``sentence`` with ``[number]`` before its final mark."""
    end = _TAIL.search(sentence)
    if end is None:
        return f"{sentence} [{number}]"
    return f"{sentence[: end.start()]} [{number}]{end.group()}"


def _closest(sources: list[tuple[int, str, str]]) -> str:
    """No sentence shares a word with the question: the first whole one of the best source
    that has one, or, if none has, where to look."""
    for number, _, text in sources:
        found = [sentence for sentence in prose_sentences(text) if not cited_numbers(sentence)]
        if found:
            return f"{CLOSEST} {cite(found[0], number)}"
    numbers = ", ".join(f"[{number}]" for number, _, _ in sources)
    return (
        f"The passages that came closest ({numbers}) hold no sentence I can quote as an "
        "answer; their excerpts are listed below."
    )


def _terms(text: str, skip: frozenset[str] = frozenset()) -> set[str]:
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in skip}


# Past forms documentation uses often, to their stem: "kept" meets "keeps".
_IRREGULAR = {
    "kept": "keep",
    "held": "hold",
    "sent": "send",
    "made": "make",
    "found": "find",
    "given": "give",
    "gave": "give",
    "taken": "take",
    "took": "take",
    "written": "write",
    "wrote": "write",
    "ran": "run",
    "built": "build",
    "paid": "pay",
    "lost": "lose",
}


def _stem(word: str) -> str:
    """A rough English stem, so that "expires" meets "expire" and "events" meets "event"."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix, replacement, shortest in (
        ("ies", "y", 5),
        ("ing", "", 6),
        ("ed", "", 5),
        ("es", "e", 5),
        ("s", "", 4),
    ):
        if word.endswith(suffix) and len(word) >= shortest and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word
