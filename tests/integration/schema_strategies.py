"""hypothesis-jsonschema's ``from_schema``, made to work (and fast) with the pinned Hypothesis.

hypothesis-jsonschema 0.23.1 (the latest release) drives Hypothesis's private ``many()``
through ``more()``; Hypothesis 6.170 made ``many()`` a context manager to iterate, so every
object schema fails with ``AttributeError: 'many' object has no attribute 'more'``. The
adapter below restores the old calls on top of the new ones. It also memoizes the library's
schema-to-strategy step, which it otherwise repeats for every nested object of every example
(the record tools' data schemas made generation ~6x slower). Both patches are applied only
where needed and only to hypothesis-jsonschema's module; delete this file's patches once a
release supports the new ``many()``.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import hypothesis_jsonschema._from_schema as _library
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as conjecture_utils
from hypothesis_jsonschema import from_schema


class _LegacyMany:
    """The ``many()`` calls hypothesis-jsonschema makes (``more``, ``reject``), on the new API."""

    def __init__(self, data: Any, **sizes: Any) -> None:
        self._many = conjecture_utils.many(data, **sizes)
        self._many.__enter__()
        self._steps = iter(self._many)

    def more(self) -> bool:
        try:
            next(self._steps)
        except StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self, why: str | None = None) -> None:
        self._many.reject(why)


_SCHEMA_STEP = "__from_schema"
_original_step = _library.__dict__.get(_SCHEMA_STEP)
# Keyed by the schema's JSON and the identities of the other arguments, which the entry keeps
# alive so that an identity is never reused for a different object.
_memo: dict[tuple[str, int, int], tuple[Any, Any, st.SearchStrategy[Any]]] = {}


def _memoized_step(schema: Any, *, alphabet: Any, custom_formats: Any) -> st.SearchStrategy[Any]:
    assert _original_step is not None
    key = (json.dumps(schema, sort_keys=True), id(alphabet), id(custom_formats))
    if key not in _memo:
        strategy = _original_step(schema, alphabet=alphabet, custom_formats=custom_formats)
        _memo[key] = (alphabet, custom_formats, strategy)
    return _memo[key][2]


if not hasattr(conjecture_utils.many, "more"):
    _library.cu = SimpleNamespace(many=_LegacyMany)  # type: ignore[attr-defined]
if _original_step is not None:
    setattr(_library, _SCHEMA_STEP, _memoized_step)


def valid_inputs(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects valid for a tool's input schema; strings are UTF-8 encodable, as in JSON."""
    return from_schema(schema)
