"""Conversation context: the session's latest turns within a token budget, and a short summary
of the turns the budget left out.

Tokens are estimated, not counted: Claude's tokenizer is not published, and a budget only
needs to be about right. English prose runs at about four characters a token; the estimate
rounds up, so the budget errs on the side of sending less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from strands.types.content import Message, Messages

from chatbot.records import QueryType

CHARS_PER_TOKEN = 4
# The summary names the dropped questions, newest first, each cut to this many characters,
# and stops at SUMMARY_MAX_CHARS in all.
SUMMARY_QUESTION_CHARS = 100
SUMMARY_MAX_CHARS = 600


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    # The path that answered it, where known.
    query_type: QueryType | None = None

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.question) + estimate_tokens(self.answer)


@dataclass(frozen=True)
class Context:
    """What the model is given of the conversation so far."""

    messages: Messages
    # One paragraph on what was left out, for the system prompt; None when nothing was.
    summary: str | None
    dropped_turns: int
    tokens: int
    # The user's previous question, kept in context or not, and the path that answered it:
    # what a follow-up refers to.
    last_question: str | None = None
    last_query_type: QueryType | None = None

    @property
    def kept_turns(self) -> int:
        """Turns given in full: a question and its answer each."""
        return len(self.messages) // 2


def fit_to_budget(turns: list[Turn], budget: int) -> Context:
    """The newest turns whose estimated tokens fit ``budget``, oldest first; the rest summarised.

    Whole turns only: a question without its answer would misrepresent the conversation.
    """
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        if used + turn.tokens > budget:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    dropped = turns[: len(turns) - len(kept)]
    messages: Messages = []
    for turn in kept:
        messages.append(_message("user", turn.question))
        messages.append(_message("assistant", turn.answer))
    return Context(
        messages=messages,
        summary=summarise(dropped),
        dropped_turns=len(dropped),
        tokens=used,
        last_question=turns[-1].question if turns else None,
        last_query_type=turns[-1].query_type if turns else None,
    )


def summarise(dropped: list[Turn]) -> str | None:
    """A short, extractive account of earlier turns: the questions asked, newest first.

    Extractive on purpose: it costs no model call on the answer path, and it cannot invent.
    """
    if not dropped:
        return None
    lead = (
        f"Earlier in this conversation ({len(dropped)} "
        f"{'exchange' if len(dropped) == 1 else 'exchanges'} no longer shown), the user asked: "
    )
    questions: list[str] = []
    length = len(lead)
    for turn in reversed(dropped):
        question = _shorten(" ".join(turn.question.split()), SUMMARY_QUESTION_CHARS)
        if length + len(question) + 4 > SUMMARY_MAX_CHARS:
            questions.append("...")
            break
        questions.append(f'"{question}"')
        length += len(question) + 4
    return lead + "; ".join(questions) + "."


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "\u2026"


def _message(role: str, text: str) -> Message:
    return {"role": role, "content": [{"text": text}]}  # type: ignore[typeddict-item]
