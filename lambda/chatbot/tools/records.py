"""Record tools: the calling session's records in the records table, and only those."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from chatbot.adapters.items import encoded_size, normalize
from chatbot.clock import Clock
from chatbot.records import iso
from chatbot.tables import (
    MAX_ITEM_BYTES,
    ConditionFailedError,
    Exists,
    Item,
    ItemTooLargeError,
    NotExists,
    SortKeyCondition,
    Table,
)
from chatbot.tools.errors import ToolError, ToolErrorCode

OWNER = "owner"
RECORD_ID = "id"
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"
# Attributes the store sets itself; a record's data may not name them.
RESERVED_FIELDS = frozenset({OWNER, RECORD_ID, CREATED_AT, UPDATED_AT})

# DynamoDB's number limits (38 significant digits, magnitude 1e-130 to under 1e126). Checked
# here so that the SQLite store refuses exactly what DynamoDB would, with a clear message.
_MAX_DIGITS = 38
_MIN_EXPONENT = -130
_MAX_EXPONENT = 125
_NUMBER_RULE = (
    "numbers may have at most 38 significant digits and a magnitude from 1e-130 to below 1e126"
)


class SessionRecords:
    """CRUD on one session's partition of the records table (partition ``owner``, sort ``id``).

    ``owner`` is always a parameter the server supplies, never part of a tool's arguments, so a
    record id from the model can only ever address a record of the calling session.
    """

    def __init__(self, table: Table, *, clock: Clock) -> None:
        if (table.spec.partition_key, table.spec.sort_key) != (OWNER, RECORD_ID):
            raise ValueError("the records table must be keyed by owner and id")
        self._table = table
        self._clock = clock

    def create(self, owner: str, data: Mapping[str, Any], record_id: str | None) -> dict[str, Any]:
        fields = _storable(data)
        new_id = record_id if record_id is not None else uuid.uuid4().hex
        now = iso(self._clock.now())
        item = {OWNER: owner, RECORD_ID: new_id, **fields, CREATED_AT: now, UPDATED_AT: now}
        _check_size(item)
        try:
            self._table.put(item, condition=NotExists(RECORD_ID))
        except ConditionFailedError:
            raise ToolError(
                ToolErrorCode.ALREADY_EXISTS,
                f"A record with id {new_id} already exists; choose another id or update it.",
            ) from None
        except ItemTooLargeError:
            raise _too_large() from None
        return _record_result(item)

    def read(self, owner: str, record_id: str) -> dict[str, Any]:
        item = self._table.get({OWNER: owner, RECORD_ID: record_id})
        if item is None:
            raise _not_found(record_id)
        return _record_result(item)

    def update(self, owner: str, record_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        fields = {**_storable(data), UPDATED_AT: iso(self._clock.now())}
        key = {OWNER: owner, RECORD_ID: record_id}
        current = self._table.get(key)
        if current is None:
            raise _not_found(record_id)
        # The merged item is measured before the write, by one rule on every backend: the
        # store's own check stays the authority, but moto applies part of an oversized update
        # before refusing it, and DynamoDB measures items more leniently than SQLite.
        _check_size({**current, **fields})
        try:
            item = self._table.update(key, set_values=fields, condition=Exists(RECORD_ID))
        except ConditionFailedError:
            raise _not_found(record_id) from None
        except ItemTooLargeError:
            raise _too_large() from None
        return _record_result(item)

    def delete(self, owner: str, record_id: str) -> dict[str, Any]:
        try:
            self._table.delete({OWNER: owner, RECORD_ID: record_id}, condition=Exists(RECORD_ID))
        except ConditionFailedError:
            raise _not_found(record_id) from None
        return {"success": True, "record_id": record_id, "message": f"Record {record_id} deleted."}

    def list(self, owner: str, limit: int, cursor: str | None) -> dict[str, Any]:
        # Our cursor is the last id shown, read back as a sort-key bound. The port's own cursor
        # would do, but it spells out the owner, and results never carry the owner.
        after = None if cursor is None else _decode_cursor(cursor)
        page = self._table.query(
            owner,
            sort=None if after is None else SortKeyCondition(">", after),
            limit=limit,
        )
        records = [_without_owner(item) for item in page.items]
        next_cursor = _encode_cursor(records[-1][RECORD_ID]) if page.cursor and records else None
        return {"success": True, "records": records, "cursor": next_cursor}


def _storable(data: Mapping[str, Any]) -> Item:
    """``data`` normalized as the stores keep it; reserved names and unstorable numbers refused."""
    for field in data:
        if field in RESERVED_FIELDS:
            raise ToolError(
                ToolErrorCode.INVALID_INPUT, f"data: the field name {field} is reserved."
            )
    try:
        fields: Item = normalize(dict(data))
    except (TypeError, ValueError):
        raise ToolError(
            ToolErrorCode.INVALID_INPUT, "data holds a value that is not JSON."
        ) from None
    for field, value in fields.items():
        if not _numbers_fit(value):
            raise ToolError(ToolErrorCode.INVALID_INPUT, f"data.{field[:40]}: {_NUMBER_RULE}.")
    return fields


def _numbers_fit(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int | float):
        return _number_fits(value)
    if isinstance(value, list):
        return all(_numbers_fit(element) for element in value)
    if isinstance(value, dict):
        return all(_numbers_fit(element) for element in value.values())
    return False


def _number_fits(number: int | float) -> bool:
    # str() of a float is its shortest repr, which is what the DynamoDB adapter sends.
    exact = Decimal(number) if isinstance(number, int) else Decimal(str(number))
    if exact.is_zero():
        return True
    significant = "".join(map(str, exact.as_tuple().digits)).rstrip("0")
    return len(significant) <= _MAX_DIGITS and _MIN_EXPONENT <= exact.adjusted() <= _MAX_EXPONENT


def _check_size(item: Item) -> None:
    if encoded_size(item) > MAX_ITEM_BYTES:
        raise _too_large()


def _without_owner(item: Mapping[str, Any]) -> Item:
    return {name: value for name, value in item.items() if name != OWNER}


def _record_result(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"success": True, "record_id": item[RECORD_ID], "data": _without_owner(item)}


def _not_found(record_id: str) -> ToolError:
    return ToolError(
        ToolErrorCode.NOT_FOUND, f"No record with id {record_id} exists in this chat session."
    )


def _too_large() -> ToolError:
    return ToolError(
        ToolErrorCode.TOO_LARGE,
        f"The record would exceed the {MAX_ITEM_BYTES // 1024} KB limit; store less data in it.",
    )


def _encode_cursor(record_id: str) -> str:
    return base64.urlsafe_b64encode(record_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        record_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        record_id = ""
    if not record_id or len(record_id) > 64 or _encode_cursor(record_id) != cursor:
        raise ToolError(
            ToolErrorCode.INVALID_INPUT,
            "cursor is not valid: pass the cursor of the previous list_records result.",
        )
    return record_id
