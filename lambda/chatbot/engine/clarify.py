"""Questions too unclear to answer: the user's words point at something ("that", "it", "the
other one") but name nothing, and there is no earlier turn for them to point at ("what about
that?", "and the other one?" as an opening message). The engine asks what is meant instead
of letting a model guess.

Deliberately narrow: one content word is enough to go ahead ("is it raining?" names
something), a message that points at nothing is left to the model ("what can you do?"), and
any earlier turn gives the words a referent, so a follow-up is never asked to explain itself.
"""

from __future__ import annotations

import re

CLARIFYING_QUESTION = (
    "I'm not sure what you are referring to. Could you tell me a little more about what you "
    "would like to know?"
)

# Words that carry no topic of their own: pronouns, determiners, question words, auxiliaries,
# fillers and a few conversational verbs.
# Small talk ("thanks", "ok", "hello") is not among them: it is clear, and the model answers it.
_EMPTY_WORDS_TEXT = """
    a an the this that these those it its they them their there here he she him her his one
    ones other another same such what which who whom whose why how when where whether about
    and or but so then also too more else again please pls you me my i we us our
    is are was were be been being do does did done can could would should will shall may might
    must have has had not hmm um uh well just really tell say explain mean
    meant go on continue of to in for with at by from as if any some all
"""
_EMPTY_WORDS = frozenset(_EMPTY_WORDS_TEXT.split())
_POINTING_WORDS = frozenset(
    ["this", "that", "these", "those", "it", "its", "they", "them", "one", "ones", "other", "same"]
)
_WORD = re.compile(r"[A-Za-z0-9']+")


def is_unclear(message: str, *, has_history: bool) -> bool:
    """Whether ``message`` points at something it does not name, with no earlier turn."""
    if has_history:
        return False
    words = {word.lower().strip("'") for word in _WORD.findall(message)} - {""}
    return bool(words & _POINTING_WORDS) and words <= _EMPTY_WORDS
