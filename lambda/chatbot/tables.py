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

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
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
    # sessions oldest first without scanning the table. Its value is ``active#<shard>``
    # (chatbot.records.activity_partition): every message moves a session's ``lastActivity``,
    # two index writes, so one constant partition would cap the whole service (docs/SCALE.md).
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
# Partitioned by ``dateShard`` (``<date>#<shard>``), not the bare day, and indexed by
# ``typeShard`` (``<eventType>#<date>#<shard>``), not the bare type: a day's events, or a type's,
# in one partition would cap the events a second (chatbot.records, docs/SCALE.md). Each event
# keeps its plain ``date`` and ``eventType`` too; readers merge the shards.
ANALYTICS = TableSpec(
    name="analytics",
    partition_key="dateShard",
    sort_key="eventId",
    indexes=(IndexSpec("byType", "typeShard", "timestamp"),),
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


# --- sharded keys -----------------------------------------------------------------------


class ShardedQuery:
    """The live items of several partitions (the shards of one key, chatbot.records) of a
    table or index, merged into the one sort-key order a single partition would have given.
    Ties in the sort key go by the table's key, as the adapters order an index.

    Iterate it once, then ``close()`` it (or use it as a context manager). Each shard is read
    ``page_size`` items a page. With ``readers`` > 1 (DynamoDB), that many threads read the
    shards' first pages together, and a shard's next page is asked for as soon as its current
    one arrives, so the reader waits about one round trip a page, not one per shard. With 1
    (SQLite, one file behind one lock), pages are read in the caller's thread when needed.
    """

    def __init__(
        self,
        table: Table,
        partitions: Sequence[str],
        *,
        index: str | None = None,
        sort: SortKeyCondition | None = None,
        ascending: bool = True,
        page_size: int = 100,
        readers: int = 1,
    ) -> None:
        self._table = table
        self._partitions = list(partitions)
        self._index = index
        self._sort = sort
        self._ascending = ascending
        self._page_size = page_size
        workers = min(readers, len(self._partitions))
        self._executor = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shard-reader")
            if workers > 1
            else None
        )
        self._order = _merge_order(table.spec, index)
        # Pages received so far, over every shard.
        self.pages = 0

    def __iter__(self) -> Iterator[Item]:
        firsts = [self._fetch(partition, None) for partition in self._partitions]
        streams = [
            self._stream(partition, first)
            for partition, first in zip(self._partitions, firsts, strict=True)
        ]
        return heapq.merge(*streams, key=self._order, reverse=not self._ascending)

    def _read(self, partition: str, cursor: str | None) -> QueryPage:
        return self._table.query(
            partition,
            index=self._index,
            sort=self._sort,
            ascending=self._ascending,
            limit=self._page_size,
            cursor=cursor,
        )

    def _fetch(self, partition: str, cursor: str | None) -> Future[QueryPage]:
        if self._executor is not None:
            return self._executor.submit(self._read, partition, cursor)
        done: Future[QueryPage] = Future()
        done.set_result(self._read(partition, cursor))
        return done

    def _stream(self, partition: str, first: Future[QueryPage]) -> Iterator[Item]:
        page = first.result()
        while True:
            self.pages += 1
            following = (
                self._fetch(partition, page.cursor)
                if page.cursor is not None and self._executor is not None
                else None
            )
            yield from page.items
            if page.cursor is None:
                return
            page = following.result() if following else self._read(partition, page.cursor)

    def close(self) -> None:
        """Stop the readers; a page being read is finished and dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ShardedQuery:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _merge_order(spec: TableSpec, index: str | None) -> Callable[[Item], tuple[Any, ...]]:
    index_spec = None if index is None else spec.index(index)
    attributes = [index_spec.sort_key] if index_spec and index_spec.sort_key else []
    attributes += [spec.sort_key] if spec.sort_key else []
    attributes.append(spec.partition_key)
    return lambda item: tuple(item.get(attribute, "") for attribute in attributes)
