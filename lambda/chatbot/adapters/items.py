"""Item rules both tables adapters apply alike: value types, key shapes, size, expiry, cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from chatbot.tables import (
    MAX_ITEM_BYTES,
    IndexSpec,
    Item,
    ItemTooLargeError,
    SortKeyCondition,
    TableSpec,
)


def normalize(value: Any) -> Any:
    """A deep copy of a JSON-like value with integral floats made int, as DynamoDB returns them."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"numbers must be finite, not {value!r}")
        # The decimal the float stands for (its shortest repr), not its binary expansion:
        # 3.402823466e+38 is 3402823466 followed by zeros, as DynamoDB would store it.
        return int(Decimal(repr(value))) if value.is_integer() else value
    if isinstance(value, Decimal):
        return from_decimal(value)
    if isinstance(value, list | tuple):
        return [normalize(element) for element in value]
    if isinstance(value, Mapping):
        copy: Item = {}
        for name, element in value.items():
            if not isinstance(name, str):
                raise TypeError(f"attribute names must be strings, not {name!r}")
            copy[name] = normalize(element)
        return copy
    raise TypeError(f"unsupported value type {type(value).__name__}: {value!r}")


def from_decimal(number: Decimal) -> int | float:
    if not number.is_finite():
        raise ValueError(f"numbers must be finite, not {number}")
    return int(number) if number == number.to_integral_value() else float(number)


def add_numbers(current: Any, delta: int | float) -> int | float:
    """``current + delta`` in decimal arithmetic, as DynamoDB's ADD does (0.1 + 0.2 == 0.3)."""
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise ValueError(f"cannot increment a non-number: {current!r}")
    return from_decimal(Decimal(str(current)) + Decimal(str(delta)))


def encoded_size(item: Mapping[str, Any]) -> int:
    return len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())


def check_size(item: Mapping[str, Any]) -> None:
    # Both adapters measure the compact JSON form, which is never smaller than DynamoDB's own
    # measure, so an item accepted locally is never rejected in production for its size.
    size = encoded_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLargeError(f"item is {size} bytes, over the {MAX_ITEM_BYTES} byte limit")


def _check_key_value(attribute: str, value: Any) -> None:
    # DynamoDB rejects key and index-key attributes that are not non-empty strings here.
    if not isinstance(value, str) or not value:
        raise ValueError(f"key attribute {attribute!r} must be a non-empty string, not {value!r}")


def index_attributes(spec: TableSpec) -> set[str]:
    names: set[str] = set()
    for index in spec.indexes:
        names.add(index.partition_key)
        if index.sort_key is not None:
            names.add(index.sort_key)
    return names


def check_key(spec: TableSpec, key: Mapping[str, Any]) -> Item:
    """The table key taken from ``key`` (extra attributes are ignored), checked."""
    try:
        table_key = spec.key_of(key)
    except KeyError as missing:
        raise ValueError(f"key for table {spec.name} lacks {missing}") from None
    for attribute, value in table_key.items():
        _check_key_value(attribute, value)
    return table_key


def check_item(spec: TableSpec, item: Mapping[str, Any]) -> None:
    """Reject what DynamoDB would reject: bad table keys, typed index keys, oversize items."""
    check_key(spec, item)
    for attribute in index_attributes(spec):
        if attribute in item:
            _check_key_value(attribute, item[attribute])
    check_size(item)


def check_update(
    spec: TableSpec,
    set_values: Mapping[str, Any],
    remove: Iterable[str],
    increment: Mapping[str, Any],
) -> None:
    """Reject updates DynamoDB rejects: key attributes changed, one attribute changed twice."""
    keys = {spec.partition_key} | ({spec.sort_key} if spec.sort_key else set())
    seen: set[str] = set()
    for attribute in [*set_values, *remove, *increment]:
        if attribute in keys:
            raise ValueError(f"cannot update key attribute {attribute!r}")
        if attribute in seen:
            raise ValueError(f"attribute {attribute!r} is changed twice in one update")
        seen.add(attribute)
    indexed = index_attributes(spec)
    for attribute, value in set_values.items():
        if attribute in indexed:
            _check_key_value(attribute, value)
    for attribute, delta in increment.items():
        if attribute in indexed:
            raise ValueError(f"cannot increment index key attribute {attribute!r}")
        if isinstance(delta, bool) or not isinstance(delta, int | float):
            raise ValueError(f"increment of {attribute!r} must be a number, not {delta!r}")


class UpdateRequest(NamedTuple):
    """An update's parts, normalized and checked as DynamoDB would check them."""

    key: Item
    set_values: Item
    remove: list[str]
    increment: Item


def prepare_update(
    spec: TableSpec,
    key: Mapping[str, Any],
    set_values: Mapping[str, Any] | None,
    remove: Iterable[str],
    increment: Mapping[str, int | float] | None,
) -> UpdateRequest:
    """What both adapters do before an update touches anything."""
    request = UpdateRequest(
        key=check_key(spec, key),
        set_values=normalize(dict(set_values or {})),
        remove=list(remove),
        increment=normalize(dict(increment or {})),
    )
    check_update(spec, request.set_values, request.remove, request.increment)
    return request


def is_expired(spec: TableSpec, item: Mapping[str, Any], now: float) -> bool:
    # Like DynamoDB's TTL, only a number counts as an expiry time; any other value never expires.
    if spec.ttl_attribute is None:
        return False
    expiry = item.get(spec.ttl_attribute)
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        return False
    return expiry <= now


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def is_reversed_range(sort: SortKeyCondition | None) -> bool:
    """A ``between`` with its bounds reversed: empty for the port, a bad request for DynamoDB."""
    if sort is None or sort.op != "between" or sort.upper is None:
        return False
    return sort.value > sort.upper


def sort_attribute(spec: TableSpec, index: IndexSpec | None) -> str | None:
    return spec.sort_key if index is None else index.sort_key


def position_of(spec: TableSpec, index: IndexSpec | None, item: Mapping[str, Any]) -> Item:
    """The attributes that place ``item`` in a query: table keys plus the index's keys."""
    position = spec.key_of(item)
    if index is not None:
        position[index.partition_key] = item[index.partition_key]
        if index.sort_key is not None:
            position[index.sort_key] = item[index.sort_key]
    return position


def encode_cursor(position: Mapping[str, Any]) -> str:
    text = json.dumps(position, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_cursor(
    cursor: str, spec: TableSpec, index: IndexSpec | None, partition_value: str
) -> Item:
    """The position a cursor from ``encode_cursor`` names, checked against the query's shape."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("malformed cursor") from None
    if not isinstance(position, dict):
        raise ValueError("malformed cursor")
    try:
        expected = position_of(spec, index, position)
    except KeyError:
        raise ValueError("cursor does not belong to this query") from None
    partition_key = spec.partition_key if index is None else index.partition_key
    if position != expected or expected[partition_key] != partition_value:
        raise ValueError("cursor does not belong to this query")
    if not all(isinstance(value, str) for value in expected.values()):
        raise ValueError("malformed cursor")
    return expected
