"""The tables port: DynamoDB-shaped key-value tables that every adapter implements alike.

Items are plain JSON-like dicts (str, int, float, bool, None, list, dict). Numbers come back
as int when integral, else float. Sets and binary values are not supported.

Semantics every adapter keeps (the contract suite in tests/integration checks them):

- Keys: a table has a partition key and an optional sort key, both strings.
- Conditions: a small expression tree (``Exists``, ``NotExists``, ``Compare``, ``All``,
  ``AnyOf``). A ``Compare`` on a missing attribute is false. A failed condition raises
  ``ConditionFailedError`` and changes nothing.
- TTL: an item whose TTL attribute (epoch seconds) is at or before the adapter's clock is
  expired. Expired items are never returned by ``get`` or ``query`` and count as absent for
  conditions, whatever the backend's own cleanup lag.
- ``update`` upserts unless its condition says otherwise (``Exists(partition_key)``) and
  returns the whole item after the change.
- ``query`` reads one partition of the table or of an index, in sort-key order, optionally
  restricted by one ``SortKeyCondition``, at most ``limit`` live items a page, with an opaque
  cursor for the next page (None when there is none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Item = dict[str, Any]


class ConditionFailedError(Exception):
    """A conditional write found the item not as the condition required."""


class ItemTooLargeError(Exception):
    """An item exceeds the backend's size limit (DynamoDB: 400 KB)."""


MAX_ITEM_BYTES = 400 * 1024


@dataclass(frozen=True)
class IndexSpec:
    """A secondary index. ``local`` marks one sharing the table's partition key (a DynamoDB LSI)."""

    name: str
    partition_key: str
    sort_key: str | None = None
    local: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A logical table: keys, indexes and TTL attribute (the CDK stack derives its tables)."""

    name: str
    partition_key: str
    sort_key: str | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = "ttl"

    def index(self, name: str) -> IndexSpec:
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(f"table {self.name} has no index {name}")

    def key_of(self, item: Mapping[str, Any]) -> Item:
        key = {self.partition_key: item[self.partition_key]}
        if self.sort_key is not None:
            key[self.sort_key] = item[self.sort_key]
        return key


# The application's tables. Attribute names follow the design documents where they give one.
SESSIONS = TableSpec(
    name="sessions",
    partition_key="sessionId",
    # Sparse index: only active sessions carry ``activityStatus``, so cleanup reads idle
    # sessions oldest first without scanning the table.
    # ``byUser`` (sparse too: only sessions opened while signed in carry ``userSub``) lists
    # a user's sessions newest first, for ``listSessions``.
    indexes=(
        IndexSpec("byActivity", "activityStatus", "lastActivity"),
        IndexSpec("byUser", "userSub", "lastActivity"),
    ),
)
CONNECTIONS = TableSpec(
    name="connections",
    partition_key="connectionId",
    indexes=(IndexSpec("bySession", "sessionId", "connectedAt"),),
)
CONVERSATIONS = TableSpec(
    name="conversations",
    partition_key="sessionId",
    # ``recordId`` is ``<messageId>#user`` or ``<messageId>#assistant``: the user message and
    # its answer share the client's messageId, so the design's bare messageId sort key would
    # collide. History is read in time order through the local index.
    sort_key="recordId",
    indexes=(IndexSpec("byTime", "sessionId", "timestamp", local=True),),
)
ANALYTICS = TableSpec(
    name="analytics",
    partition_key="date",
    sort_key="eventId",
    indexes=(IndexSpec("byType", "eventType", "timestamp"),),
)

# Records the MCP tools manage. Partitioned by owner (the calling session), so a tool can
# only ever address its own session's records.
RECORDS = TableSpec(
    name="records",
    partition_key="owner",
    sort_key="id",
    ttl_attribute=None,
)

# Usage counters (chatbot.limits, chatbot.engine.budget): one item per counter and window,
# incremented atomically (``update`` with ``increment``) and gone by TTL when the window ends.
LIMITS = TableSpec(name="limits", partition_key="counterId")

ALL_TABLES: tuple[TableSpec, ...] = (
    SESSIONS,
    CONNECTIONS,
    CONVERSATIONS,
    ANALYTICS,
    RECORDS,
    LIMITS,
)


# --- conditions -------------------------------------------------------------------------

CompareOp = Literal["=", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Exists:
    attribute: str


@dataclass(frozen=True)
class NotExists:
    attribute: str


@dataclass(frozen=True)
class Compare:
    attribute: str
    op: CompareOp
    value: Any


@dataclass(frozen=True)
class All:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


Condition = Exists | NotExists | Compare | All | AnyOf


def evaluate(condition: Condition, item: Mapping[str, Any] | None) -> bool:
    """Evaluate a condition against an item (None: absent), as DynamoDB would."""
    present: Mapping[str, Any] = item if item is not None else {}
    match condition:
        case Exists(attribute):
            return attribute in present
        case NotExists(attribute):
            return attribute not in present
        case Compare(attribute, op, value):
            if attribute not in present:
                return False
            return _compare(present[attribute], op, value)
        case All(conditions):
            return all(evaluate(c, item) for c in conditions)
        case AnyOf(conditions):
            return any(evaluate(c, item) for c in conditions)
    raise TypeError(f"not a condition: {condition!r}")


def _compare(left: Any, op: CompareOp, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return op == "=" and left is right
    same_kind = (isinstance(left, str) and isinstance(right, str)) or (
        isinstance(left, int | float) and isinstance(right, int | float)
    )
    if not same_kind:
        return False if op != "=" else left == right
    if op == "=":
        return bool(left == right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


# --- queries ----------------------------------------------------------------------------

SortOp = Literal["=", "<", "<=", ">", ">=", "between", "begins_with"]


@dataclass(frozen=True)
class SortKeyCondition:
    """One condition on the sort key; ``between`` is inclusive and takes ``value`` and ``upper``."""

    op: SortOp
    value: str
    upper: str | None = None

    def matches(self, sort_value: str) -> bool:
        if self.op == "between":
            assert self.upper is not None
            return self.value <= sort_value <= self.upper
        if self.op == "begins_with":
            return sort_value.startswith(self.value)
        return _compare(sort_value, self.op, self.value)


@dataclass(frozen=True)
class QueryPage:
    items: list[Item]
    cursor: str | None


class Table(Protocol):
    """One logical table. Every method is safe to call from several threads."""

    @property
    def spec(self) -> TableSpec: ...

    def get(self, key: Mapping[str, Any]) -> Item | None:
        """The live item with this key, or None (absent or expired). Strongly consistent."""
        ...

    def put(self, item: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        """Write the whole item, replacing any other with its key, if the condition holds."""
        ...

    def update(
        self,
        key: Mapping[str, Any],
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        increment: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> Item:
        """Change top-level attributes of one item (upsert) if the condition holds; return it."""
        ...

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> Item | None:
        """Remove the item if the condition holds; return what was there (None if nothing live)."""
        ...

    def query(
        self,
        partition_value: str,
        *,
        index: str | None = None,
        sort: SortKeyCondition | None = None,
        ascending: bool = True,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> QueryPage:
        """Live items of one partition (of the table or of ``index``) in sort-key order."""
        ...


@dataclass(frozen=True)
class Tables:
    """The application's tables, as one adapter provides them."""

    sessions: Table
    connections: Table
    conversations: Table
    analytics: Table
    limits: Table
