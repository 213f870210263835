"""The tuning and held-out halves of a labelled set's questions, fixed by their ids.

A setting (fusion weights, a score threshold) is chosen on the tuning questions and judged
on the held-out ones, so its figure is not one it was fitted to. A question belongs to the
tuning split when the first byte of ``sha256("split:" + its id)`` is below 128: about half,
the same on every machine and run, and a question added later does not move the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final, Literal, TypeVar

Split = Literal["tuning", "held-out"]
TUNING: Final = "tuning"
HELD_OUT: Final = "held-out"
SPLITS: Final[tuple[Split, Split]] = (TUNING, HELD_OUT)

_Item = TypeVar("_Item")


def split_of(query_id: str) -> Split:
    digest = hashlib.sha256(f"split:{query_id}".encode()).digest()
    return TUNING if digest[0] < 128 else HELD_OUT


def in_split(ids_and_items: Iterable[tuple[str, _Item]], split: Split | None) -> list[_Item]:
    """The items whose id is in ``split`` (None: all of them), in order."""
    return [
        item for query_id, item in ids_and_items if split is None or split_of(query_id) == split
    ]
