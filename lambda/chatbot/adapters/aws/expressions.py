"""DynamoDB expression text in which every attribute name and value is a placeholder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatbot.adapters.aws.attribute_values import to_attribute_value
from chatbot.tables import All, AnyOf, Compare, Condition, Exists, NotExists, SortKeyCondition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_COMPARE_OPERATORS = frozenset({"=", "<", "<=", ">", ">="})


class Expressions:
    """Builds the expressions of one request and collects the placeholders they use.

    ``anchor`` is an attribute every item has (the partition key); constant true and false,
    which DynamoDB cannot spell directly, are written as tests on it.
    """

    def __init__(self, anchor: str) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValueTypeDef] = {}
        self._anchor = anchor

    def name(self, attribute: str) -> str:
        for placeholder, known in self.names.items():
            if known == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_attribute_value(value)
        return placeholder

    def always(self, truth: bool) -> str:
        anchor = self.name(self._anchor)
        if truth:
            return f"attribute_exists({anchor}) OR attribute_not_exists({anchor})"
        return f"attribute_exists({anchor}) AND attribute_not_exists({anchor})"

    def condition(self, condition: Condition) -> str:
        """The condition as DynamoDB text that holds exactly when ``evaluate`` says it does."""
        match condition:
            case Exists(attribute):
                return f"attribute_exists({self.name(attribute)})"
            case NotExists(attribute):
                return f"attribute_not_exists({self.name(attribute)})"
            case Compare(attribute, op, value):
                return self._compare(attribute, op, value)
            case All(conditions):
                if not conditions:
                    return self.always(True)
                return " AND ".join(group(self.condition(c)) for c in conditions)
            case AnyOf(conditions):
                if not conditions:
                    return self.always(False)
                return " OR ".join(group(self.condition(c)) for c in conditions)
        raise TypeError(f"not a condition: {condition!r}")

    def _compare(self, attribute: str, op: str, value: Any) -> str:
        if op not in _COMPARE_OPERATORS:
            raise ValueError(f"unknown comparison operator {op!r}")
        orderable = isinstance(value, str | int | float) and not isinstance(value, bool)
        if op != "=" and not orderable:
            # DynamoDB rejects ordering on booleans, nulls, lists and maps as a bad request;
            # the port's reference semantics say such a comparison is simply false.
            return self.always(False)
        if value is None:
            # DynamoDB cannot compare with NULL; "present and null" is what equality means.
            return f"attribute_type({self.name(attribute)}, {self.value('NULL')})"
        comparison = f"{self.name(attribute)} {op} {self.value(value)}"
        if op == "=":
            return comparison
        return f"{self._has_type_of(attribute, value)} AND {comparison}"

    def _has_type_of(self, attribute: str, value: str | int | float) -> str:
        # Ordering across types is false in DynamoDB; saying so explicitly keeps emulators that
        # raise on it instead (moto, for one) in agreement.
        kind = "S" if isinstance(value, str) else "N"
        return f"attribute_type({self.name(attribute)}, {self.value(kind)})"

    def key_condition(
        self,
        partition_attribute: str,
        partition_value: str,
        sort_attribute: str | None,
        sort: SortKeyCondition | None,
    ) -> str:
        text = f"{self.name(partition_attribute)} = {self.value(partition_value)}"
        if sort is None:
            return text
        if sort_attribute is None:
            raise ValueError("sort condition on a query without a sort key")
        name = self.name(sort_attribute)
        if sort.op == "between":
            if sort.upper is None:
                raise ValueError("between needs an upper bound")
            return (
                f"{text} AND {name} BETWEEN {self.value(sort.value)} AND {self.value(sort.upper)}"
            )
        if sort.op == "begins_with":
            return f"{text} AND begins_with({name}, {self.value(sort.value)})"
        if sort.op not in _COMPARE_OPERATORS:
            raise ValueError(f"unknown sort key operator {sort.op!r}")
        return f"{text} AND {name} {sort.op} {self.value(sort.value)}"

    def expired(self, ttl_attribute: str, now: float) -> str:
        """True when the item's TTL is a number at or before ``now``; false when it is absent."""
        at_or_before = f"{self.name(ttl_attribute)} <= {self.value(now)}"
        return f"{self._has_type_of(ttl_attribute, now)} AND {at_or_before}"


def group(text: str) -> str:
    """``text`` in parentheses, unless it already is one group: DynamoDB rejects ``((x))``."""
    depth = 0
    for position, character in enumerate(text):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth == 0:
            # The first top-level piece ends here; the text is one group if that is all of it.
            if text.startswith("(") and position == len(text) - 1:
                return text
            break
    return f"({text})"
