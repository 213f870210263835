"""Conversion between plain item values and DynamoDB's typed attribute values."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chatbot.adapters import items as rules
from chatbot.tables import Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

AttributeMap = dict[str, "AttributeValueTypeDef"]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _with_decimals(value: Any) -> Any:
    # boto3 refuses floats; str() keeps the shortest repr, so 0.1 is stored as 0.1, not its
    # binary expansion.
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 38:
        # A long integer ending in zeros (a large integral float, normalized) fits DynamoDB's
        # 38 significant digits only as mantissa and exponent; its context traps rounding.
        return Decimal(value).normalize()
    if isinstance(value, list):
        return [_with_decimals(element) for element in value]
    if isinstance(value, dict):
        return {name: _with_decimals(element) for name, element in value.items()}
    return value


def _without_decimals(value: Any) -> Any:
    if isinstance(value, Decimal):
        return rules.from_decimal(value)
    if isinstance(value, list):
        return [_without_decimals(element) for element in value]
    if isinstance(value, dict):
        return {name: _without_decimals(element) for name, element in value.items()}
    return value


def to_attribute_value(value: Any) -> AttributeValueTypeDef:
    """The typed form of a plain value (checked and normalized like every adapter does)."""
    return _serializer.serialize(_with_decimals(rules.normalize(value)))


def to_attribute_map(item: Mapping[str, Any]) -> AttributeMap:
    return {name: to_attribute_value(value) for name, value in item.items()}


def from_attribute_map(attributes: Mapping[str, AttributeValueTypeDef]) -> Item:
    return {
        name: _without_decimals(_deserializer.deserialize(cast(Any, value)))
        for name, value in attributes.items()
    }
