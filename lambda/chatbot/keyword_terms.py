"""The words of a keyword query, one definition for both backends' BM25 searches.

A question is mostly words that say nothing about its subject ("how do I ... with a ..."):
each matches most passages, and BM25's IDF weighs them low but not to nothing, so a short
passage full of them can outrank the answer. They are dropped from the query (the index
still holds them, so a quoted phrase search elsewhere is unaffected). The list is English
function words (pronouns, auxiliaries, articles, prepositions, conjunctions and question
words), written for this project; it keeps negations and technical words that look common
("file", "name", "set", "list", "not"), since they often carry a question's meaning.

Both indexes stem with Porter's algorithm (SQLite FTS5's ``porter`` tokenizer, OpenSearch's
``porter_stem`` filter), so "sorting", "sorted" and "sorts" match "sort". Measured in
``chatbot eval retrieval`` (bench/results/retrieval-eval.md).
"""

from __future__ import annotations

import re
from typing import Final

# Runs of letters and digits: what FTS5's unicode61 tokenizer keeps as token text.
TERM: Final = re.compile(r"[^\W_]+")
# Terms beyond this many add little to ranking and only make the query slower.
MAX_TERMS: Final = 64

_STOP_WORDS_TEXT: Final = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each either else ever few for from further had has have having he her here hers herself
    him himself his how i if in into is it its itself just let lets like may me might more
    most much must my myself neither nor now of off often on once only or other our ours
    ourselves out over own per rather really same shall she should so some such than that
    the their theirs them themselves then there these they this those though through thus
    to too under until up upon us very via was we were what whatever when whenever where
    whereas wherever whether which while who whoever whom whose why will with within
    without would yet you your yours yourself yourselves
"""
STOP_WORDS: Final = frozenset(_STOP_WORDS_TEXT.split())


def query_terms(query: str) -> list[str]:
    """The distinct terms of ``query`` to search for, casefolded, in order, stop words gone.

    A query of stop words only ("what is it?") keeps them all: searching for something
    beats searching for nothing.
    """
    terms = list(dict.fromkeys(term.casefold() for term in TERM.findall(query)))
    kept = [term for term in terms if term not in STOP_WORDS] or terms
    return kept[:MAX_TERMS]
