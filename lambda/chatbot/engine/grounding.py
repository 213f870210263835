"""Whether a documents answer is grounded: which of its ``[n]`` name a source it was given.

Every model's answer is checked (the offline model's and Claude's alike), after it is
complete. The answer's citations and sources are then only the ones it cites, each keeping
its number (``[n]`` refers to the citation whose ``id`` is ``n``, PROTOCOL.md), so the list
under an answer holds nothing the answer does not point to. That holds for Claude too: a
source it was given but did not cite would read, listed, as support the answer never
claimed; how many were given stays on the analytics event (``sourcesGiven``).

A ``[n]`` that names no source given is flagged, not stripped: the text has already streamed
to the client as deltas, whose concatenation the protocol promises is the final content, and
the page leaves an ``[n]`` with no citation as plain text. An answer that cites nothing
although sources were given is flagged too. Both are logged (ids and counts only, never the
text) and counted on the ``query`` analytics event (``citedCount``, ``unknownCitations``,
``ungrounded``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="chatbot", child=True)

# As the page links them (web/render.js): one to three digits in brackets; not a link's text.
_CITATION = re.compile(r"\[(\d{1,3})\](?!\()")
# Code is not prose: ``a[1]`` in a code span or block is an index, not a citation.
_CODE = re.compile(r"^\s*(`{3,}|~{3,}).*?(?:^\s*\1[^\n]*$|\Z)|(`+).+?\2", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Grounding:
    """What an answer given ``given`` numbered sources cites."""

    given: int
    # The numbers of given sources it cites, in the order they first appear.
    cited: tuple[int, ...]
    # The numbers it cites that name no source given.
    unknown: tuple[int, ...]
    # Sources were given and the whole answer (not one stopped by the user) cites none.
    ungrounded: bool = False

    def analytics(self) -> dict[str, Any]:
        """The fields this adds to the answer's ``query`` analytics event (none when no
        source was given)."""
        if not self.given:
            return {}
        return {
            "sourcesGiven": self.given,
            "citedCount": len(self.cited),
            **({"unknownCitations": len(self.unknown)} if self.unknown else {}),
            **({"ungrounded": True} if self.ungrounded else {}),
        }


def cited_numbers(text: str) -> list[int]:
    """The distinct ``[n]`` of ``text`` outside code, in the order they first appear."""
    prose = _CODE.sub(" ", text)
    return list(dict.fromkeys(int(found.group(1)) for found in _CITATION.finditer(prose)))


def check_grounding(text: str, given: int, *, message_id: str, complete: bool = True) -> Grounding:
    """What ``text`` cites of ``given`` numbered sources; logs an answer that cites a source
    it was not given, or (when ``complete``: not stopped by the user) cites nothing. With no
    source given (not a documents answer) there is nothing to check."""
    if given == 0:
        return Grounding(given=0, cited=(), unknown=())
    numbers = cited_numbers(text)
    cited = tuple(n for n in numbers if 1 <= n <= given)
    grounding = Grounding(
        given=given,
        cited=cited,
        unknown=tuple(n for n in numbers if not 1 <= n <= given),
        ungrounded=given > 0 and not cited and complete and bool(text.strip()),
    )
    if grounding.unknown or grounding.ungrounded:
        logger.warning(
            "documents answer not grounded in its sources",
            extra={"messageId": message_id, **grounding.analytics()},
        )
    return grounding
