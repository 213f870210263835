"""The tables port's contract, run alike against the SQLite adapter and DynamoDB (moto)."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.adapters.aws.tables import DynamoDBTables, create_table
from chatbot.adapters.local.tables import SQLiteTables
from chatbot.tables import (
    ALL_TABLES,
    CONVERSATIONS,
    MAX_ITEM_BYTES,
    SESSIONS,
    All,
    AnyOf,
    Compare,
    Condition,
    ConditionFailedError,
    Exists,
    Item,
    ItemTooLargeError,
    NotExists,
    SortKeyCondition,
    Table,
    Tables,
    TableSpec,
    evaluate,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

NOW = 1_700_000_000.0


class EpochClock:
    """A clock that moves only when a test sets ``epoch`` (seconds, what TTLs compare with)."""

    def __init__(self, epoch: float = NOW) -> None:
        self.epoch = epoch

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, UTC)

    def time(self) -> float:
        return self.epoch

    def monotonic(self) -> float:
        return self.epoch


@dataclass
class Backend:
    name: str
    tables: Tables
    clock: EpochClock
    # Whether the backend physically holds an item, expired or not.
    holds: Callable[[TableSpec, Mapping[str, str]], bool]
    # A second, independent handle on the same tables (another process's, as it were).
    other: Tables


def _sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    clock = EpochClock()
    path = tmp_path / "tables.db"
    adapter = SQLiteTables(path, clock=clock)
    raw = sqlite3.connect(path)

    def holds(spec: TableSpec, key: Mapping[str, str]) -> bool:
        sort = key[spec.sort_key] if spec.sort_key else ""
        sql = f'SELECT 1 FROM "t_{spec.name}" WHERE pk = ? AND sk = ?'
        return raw.execute(sql, (key[spec.partition_key], sort)).fetchone() is not None

    second = SQLiteTables(path, clock=clock)
    yield Backend("sqlite", adapter.tables(), clock, holds, second.tables())
    second.close()
    raw.close()
    adapter.close()


def _dynamodb_backend(client: DynamoDBClient, prefix: str) -> Iterator[Backend]:
    clock = EpochClock()
    names = {spec.name: f"{prefix}-{spec.name}" for spec in ALL_TABLES}
    for spec in ALL_TABLES:
        create_table(client, spec, names[spec.name])
    adapter = DynamoDBTables(client, names, clock=clock)

    def holds(spec: TableSpec, key: Mapping[str, str]) -> bool:
        wire_key = {name: {"S": value} for name, value in spec.key_of(key).items()}
        return "Item" in client.get_item(TableName=names[spec.name], Key=wire_key)

    other = DynamoDBTables(client, names, clock=clock)
    yield Backend("dynamodb", adapter.tables(), clock, holds, other.tables())


_table_generation = itertools.count()


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield from _sqlite_backend(tmp_path)
    else:
        # The moto client is shared by the module; fresh table names isolate each test.
        prefix = f"t{next(_table_generation)}"
        yield from _dynamodb_backend(request.getfixturevalue("dynamodb_client"), prefix)


@pytest.fixture
def sessions(backend: Backend) -> Table:
    return backend.tables.sessions


@pytest.fixture
def conversations(backend: Backend) -> Table:
    return backend.tables.conversations


def record(record_id: str, session: str = "s1", **attributes: Any) -> Item:
    return {"sessionId": session, "recordId": record_id, **attributes}


def ids(items: list[Item], attribute: str = "recordId") -> list[str]:
    return [item[attribute] for item in items]


# --- items ------------------------------------------------------------------------------


def test_put_then_get_round_trips_nested_values_and_numbers(sessions: Table) -> None:
    item = {
        "sessionId": "s1",
        "int": 42,
        "negative": -7,
        "big": 12345678901234567890,
        "float": 1.5,
        "tiny": 0.1,
        "integral_float": 2.0,
        "yes": True,
        "no": False,
        "nothing": None,
        "empty": "",
        "text": "héllo ✓",
        "list": [1, "a", None, [2.5, {"k": False}]],
        "map": {"nested": {"deeper": [1, 2, 3]}, "empty_list": [], "empty_map": {}},
    }
    sessions.put(item)

    stored = sessions.get({"sessionId": "s1"})

    assert stored == {**item, "integral_float": 2}
    assert stored is not None
    assert type(stored["integral_float"]) is int
    assert type(stored["float"]) is float
    assert stored["yes"] is True
    assert stored["no"] is False


def test_get_of_a_missing_item_returns_none(sessions: Table) -> None:
    assert sessions.get({"sessionId": "nobody"}) is None


def test_put_replaces_the_whole_item(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "old": 1})
    sessions.put({"sessionId": "s1", "new": 2})

    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "new": 2}


def test_put_with_not_exists_condition_is_idempotent(sessions: Table) -> None:
    first_write = NotExists("sessionId")
    sessions.put({"sessionId": "s1", "n": 1}, condition=first_write)

    with pytest.raises(ConditionFailedError):
        sessions.put({"sessionId": "s1", "n": 2}, condition=first_write)

    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "n": 1}


@pytest.mark.parametrize(
    "item",
    [{"sessionId": ""}, {"sessionId": 5}, {"sessionId": "s", "activityStatus": 1}],
    ids=["empty-key", "number-key", "number-index-key"],
)
def test_put_rejects_keys_that_are_not_non_empty_strings(sessions: Table, item: Item) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        sessions.put(item)


# --- update -----------------------------------------------------------------------------


def test_update_with_exists_condition_fails_on_missing_item_and_creates_nothing(
    sessions: Table,
) -> None:
    with pytest.raises(ConditionFailedError):
        sessions.update({"sessionId": "s1"}, set_values={"a": 1}, condition=Exists("sessionId"))

    assert sessions.get({"sessionId": "s1"}) is None


def test_update_sets_removes_and_increments_and_returns_the_new_item(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "keep": "k", "gone": "g", "count": 2})

    returned = sessions.update(
        {"sessionId": "s1"},
        set_values={"added": {"x": [1]}, "keep": "changed"},
        remove=["gone"],
        increment={"count": 3},
    )

    expected = {"sessionId": "s1", "keep": "changed", "added": {"x": [1]}, "count": 5}
    assert returned == expected
    assert sessions.get({"sessionId": "s1"}) == expected


def test_update_of_a_missing_item_creates_it_from_the_key(sessions: Table) -> None:
    returned = sessions.update({"sessionId": "s1"}, set_values={"a": 1})

    assert returned == {"sessionId": "s1", "a": 1}
    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "a": 1}


def test_update_with_nothing_to_change_creates_the_bare_key(
    backend: Backend, sessions: Table
) -> None:
    if backend.name == "dynamodb":
        pytest.skip("moto 5.2 crashes on UpdateItem without UpdateExpression; DynamoDB does not")
    assert sessions.update({"sessionId": "s1"}) == {"sessionId": "s1"}
    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1"}


def test_increment_of_a_missing_attribute_starts_from_zero(sessions: Table) -> None:
    sessions.put({"sessionId": "s1"})

    assert sessions.update({"sessionId": "s1"}, increment={"n": 4})["n"] == 4
    assert sessions.update({"sessionId": "s1"}, increment={"n": -1})["n"] == 3


def test_increment_of_floats_is_decimal_exact(sessions: Table) -> None:
    sessions.update({"sessionId": "s1"}, increment={"cost": 0.1})

    assert sessions.update({"sessionId": "s1"}, increment={"cost": 0.2})["cost"] == 0.3


def test_increment_of_a_string_is_rejected(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "n": "ten"})

    with pytest.raises(ValueError):  # noqa: PT011 - the adapters' messages differ
        sessions.update({"sessionId": "s1"}, increment={"n": 1})

    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "n": "ten"}


def test_update_cannot_change_a_key_attribute(sessions: Table) -> None:
    with pytest.raises(ValueError, match="key attribute"):
        sessions.update({"sessionId": "s1"}, set_values={"sessionId": "s2"})


HOSTILE_NAMES = ["a.b", "x = :y", "#n", ":v0", "list[0]", "attribute_exists(x)", " spaced ", "ü"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_update_stores_a_hostile_attribute_name_literally(sessions: Table, name: str) -> None:
    sessions.update({"sessionId": "s1"}, set_values={name: "v", "other": 1})
    sessions.update({"sessionId": "s1"}, increment={f"{name}2": 5}, condition=Exists(name))
    returned = sessions.update(
        {"sessionId": "s1"}, remove=[name], condition=Compare(f"{name}2", "=", 5)
    )

    assert returned == {"sessionId": "s1", "other": 1, f"{name}2": 5}
    assert sessions.get({"sessionId": "s1"}) == returned


# --- delete -----------------------------------------------------------------------------


def test_delete_returns_the_old_item_and_removes_it(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "a": [1]})

    assert sessions.delete({"sessionId": "s1"}) == {"sessionId": "s1", "a": [1]}
    assert sessions.get({"sessionId": "s1"}) is None


def test_delete_of_a_missing_item_returns_none(sessions: Table) -> None:
    assert sessions.delete({"sessionId": "nobody"}) is None


def test_delete_with_a_failed_condition_changes_nothing(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "state": "open"})

    with pytest.raises(ConditionFailedError):
        sessions.delete({"sessionId": "s1"}, condition=Compare("state", "=", "closed"))

    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "state": "open"}


# --- conditions -------------------------------------------------------------------------

STORED = {"sessionId": "s1", "n": 5, "f": 2.5, "s": "m", "t": True, "z": None, "l": [1]}

CONDITIONS: list[tuple[Condition, bool]] = [
    (Exists("n"), True),
    (Exists("missing"), False),
    (NotExists("missing"), True),
    (NotExists("n"), False),
    (Compare("n", "=", 5), True),
    (Compare("n", "=", 5.0), True),
    (Compare("n", "=", 6), False),
    (Compare("n", "<", 6), True),
    (Compare("n", "<", 5), False),
    (Compare("n", "<=", 5), True),
    (Compare("n", ">", 4.5), True),
    (Compare("n", ">", 5), False),
    (Compare("n", ">=", 5), True),
    (Compare("f", "<", 3), True),
    (Compare("s", "=", "m"), True),
    (Compare("s", "<", "n"), True),
    (Compare("s", ">=", "ma"), False),
    (Compare("n", "=", "5"), False),
    (Compare("n", "<", "9"), False),
    (Compare("t", "=", True), True),
    (Compare("t", "=", False), False),
    (Compare("t", ">", False), False),
    (Compare("z", "=", None), True),
    (Compare("s", "=", None), False),
    (Compare("l", "=", [1]), True),
    (Compare("missing", "=", 5), False),
    (Compare("missing", "<", 5), False),
    (Compare("missing", "<=", 5), False),
    (Compare("missing", ">", 5), False),
    (Compare("missing", ">=", 5), False),
    (All((Exists("n"), Compare("s", "=", "m"))), True),
    (All((Exists("n"), Exists("missing"))), False),
    (All(()), True),
    (AnyOf((Exists("missing"), Compare("n", "=", 5))), True),
    (AnyOf((Exists("missing"), Compare("n", "=", 6))), False),
    (AnyOf(()), False),
    (AnyOf((All((Exists("n"), NotExists("s"))), All((Exists("s"), NotExists("x"))))), True),
]


@pytest.mark.parametrize(("condition", "holds"), CONDITIONS, ids=[repr(c) for c, _ in CONDITIONS])
def test_condition_decides_whether_a_write_happens(
    sessions: Table, condition: Condition, holds: bool
) -> None:
    sessions.put(STORED)
    assert evaluate(condition, STORED) is holds  # the reference agrees with the table

    if holds:
        sessions.update({"sessionId": "s1"}, set_values={"touched": 1}, condition=condition)
        assert sessions.get({"sessionId": "s1"}) == {**STORED, "touched": 1}
    else:
        with pytest.raises(ConditionFailedError):
            sessions.update({"sessionId": "s1"}, set_values={"touched": 1}, condition=condition)
        assert sessions.get({"sessionId": "s1"}) == STORED


# --- query ------------------------------------------------------------------------------


@pytest.fixture
def five_records(conversations: Table) -> Table:
    for record_id in ["c", "a", "e", "b", "d"]:
        conversations.put(record(record_id))
    conversations.put(record("a", session="other"))
    return conversations


def test_query_returns_one_partition_in_ascending_sort_key_order(five_records: Table) -> None:
    page = five_records.query("s1")

    assert ids(page.items) == ["a", "b", "c", "d", "e"]
    assert page.cursor is None


def test_query_descending_reverses_the_order(five_records: Table) -> None:
    assert ids(five_records.query("s1", ascending=False).items) == ["e", "d", "c", "b", "a"]


def test_query_of_an_empty_partition_returns_no_items(five_records: Table) -> None:
    page = five_records.query("nobody", limit=2)

    assert page.items == []
    assert page.cursor is None


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (SortKeyCondition("=", "c"), ["c"]),
        (SortKeyCondition("<", "c"), ["a", "b"]),
        (SortKeyCondition("<=", "c"), ["a", "b", "c"]),
        (SortKeyCondition(">", "d"), ["e", "msg1#assistant", "msg1#user", "msg10#user"]),
        (SortKeyCondition(">=", "msg1#user"), ["msg1#user", "msg10#user"]),
        (SortKeyCondition("between", "b", "d"), ["b", "c", "d"]),
        (SortKeyCondition("begins_with", "msg1#"), ["msg1#assistant", "msg1#user"]),
    ],
    ids=lambda value: value.op if isinstance(value, SortKeyCondition) else None,
)
def test_sort_key_condition_selects_items(
    five_records: Table, sort: SortKeyCondition, expected: list[str]
) -> None:
    five_records.put(record("msg1#user"))
    five_records.put(record("msg1#assistant"))
    five_records.put(record("msg10#user"))

    assert ids(five_records.query("s1", sort=sort).items) == expected


@pytest.mark.parametrize("ascending", [True, False], ids=["ascending", "descending"])
def test_paging_with_limit_and_cursor_visits_every_item_once_in_order(
    conversations: Table, ascending: bool
) -> None:
    expected = [f"r{n:02d}" for n in range(10)]
    for record_id in expected:
        conversations.put(record(record_id))

    pages = _all_pages(
        lambda cursor: conversations.query("s1", ascending=ascending, limit=3, cursor=cursor)
    )

    assert [len(page) for page in pages] == [3, 3, 3, 1]
    assert [item["recordId"] for page in pages for item in page] == (
        expected if ascending else expected[::-1]
    )


def test_last_page_has_no_cursor_when_items_fill_it_exactly(conversations: Table) -> None:
    for n in range(6):
        conversations.put(record(f"r{n}"))

    pages = _all_pages(lambda cursor: conversations.query("s1", limit=3, cursor=cursor))

    assert [len(page) for page in pages] == [3, 3]


def test_paging_respects_the_sort_key_condition(conversations: Table) -> None:
    for n in range(8):
        conversations.put(record(f"r{n}"))
    between = SortKeyCondition("between", "r2", "r6")

    pages = _all_pages(
        lambda cursor: conversations.query("s1", sort=between, limit=2, cursor=cursor)
    )

    assert [ids(page) for page in pages] == [["r2", "r3"], ["r4", "r5"], ["r6"]]


def test_between_with_bounds_reversed_selects_nothing(five_records: Table) -> None:
    page = five_records.query("s1", sort=SortKeyCondition("between", "d", "b"))

    assert page.items == []
    assert page.cursor is None


def test_a_malformed_cursor_is_rejected(five_records: Table) -> None:
    with pytest.raises(ValueError, match="cursor"):
        five_records.query("s1", cursor="not a cursor")


def _all_pages(read: Callable[[str | None], Any]) -> list[list[Item]]:
    pages: list[list[Item]] = []
    cursor: str | None = None
    while True:
        page = read(cursor)
        pages.append(page.items)
        cursor = page.cursor
        if cursor is None:
            return pages
        assert len(pages) < 100, "paging does not end"


def _session(session_id: str, status: str | None, last_activity: str | None, **extra: Any) -> Item:
    item: Item = {"sessionId": session_id, **extra}
    if status is not None:
        item["activityStatus"] = status
    if last_activity is not None:
        item["lastActivity"] = last_activity
    return item


@pytest.fixture
def active_sessions(sessions: Table) -> Table:
    sessions.put(_session("s3", "active", "2024-01-03"))
    sessions.put(_session("s1", "active", "2024-01-01"))
    sessions.put(_session("s4", "idle", "2024-01-00"))
    sessions.put(_session("s2", "active", "2024-01-02"))
    sessions.put(_session("s5", None, "2023-12-31"))  # not in the sparse index
    sessions.put(_session("s6", "active", None))  # no index sort key: not in the index
    return sessions


def test_sparse_index_query_returns_only_items_carrying_the_index_keys(
    active_sessions: Table,
) -> None:
    page = active_sessions.query("active", index="byActivity")

    assert ids(page.items, "sessionId") == ["s1", "s2", "s3"]


def test_sparse_index_query_descending_with_sort_condition(active_sessions: Table) -> None:
    page = active_sessions.query(
        "active", index="byActivity", sort=SortKeyCondition("<", "2024-01-03"), ascending=False
    )

    assert ids(page.items, "sessionId") == ["s2", "s1"]


@pytest.mark.parametrize("ascending", [True, False], ids=["ascending", "descending"])
def test_index_paging_visits_every_item_once(active_sessions: Table, ascending: bool) -> None:
    pages = _all_pages(
        lambda cursor: active_sessions.query(
            "active", index="byActivity", limit=2, cursor=cursor, ascending=ascending
        )
    )

    expected = ["s1", "s2", "s3"] if ascending else ["s3", "s2", "s1"]
    assert [ids(page, "sessionId") for page in pages] == [expected[:2], expected[2:]]


def test_the_by_user_index_lists_one_users_sessions_newest_first(sessions: Table) -> None:
    sessions.put({"sessionId": "a1", "userSub": "alice", "lastActivity": "2024-01-01"})
    sessions.put({"sessionId": "b1", "userSub": "bob", "lastActivity": "2024-01-02"})
    sessions.put({"sessionId": "a2", "userSub": "alice", "lastActivity": "2024-01-03"})
    sessions.put({"sessionId": "n1", "lastActivity": "2024-01-04"})  # no user: not indexed

    pages = _all_pages(
        lambda cursor: sessions.query(
            "alice", index="byUser", ascending=False, limit=1, cursor=cursor
        )
    )

    assert [ids(page, "sessionId") for page in pages] == [["a2"], ["a1"]]
    assert sessions.query("bob", index="byUser").items[0]["sessionId"] == "b1"


def test_removing_the_index_key_takes_an_item_out_of_the_index(active_sessions: Table) -> None:
    active_sessions.update({"sessionId": "s2"}, remove=["activityStatus"])

    assert ids(active_sessions.query("active", index="byActivity").items, "sessionId") == [
        "s1",
        "s3",
    ]


def test_local_index_orders_a_partition_by_its_own_sort_key(conversations: Table) -> None:
    conversations.put(record("m1#user", timestamp="2024-01-01T00:00:03"))
    conversations.put(record("m2#user", timestamp="2024-01-01T00:00:01"))
    conversations.put(record("m3#user", timestamp="2024-01-01T00:00:02"))
    conversations.put(record("m4#user"))  # no timestamp: not in the index
    conversations.put(record("m9#user", session="other", timestamp="2024-01-01T00:00:00"))

    ascending = conversations.query("s1", index="byTime")
    descending = conversations.query("s1", index="byTime", ascending=False, limit=2)

    assert ids(ascending.items) == ["m2#user", "m3#user", "m1#user"]
    assert ids(descending.items) == ["m1#user", "m3#user"]
    rest = conversations.query("s1", index="byTime", ascending=False, cursor=descending.cursor)
    assert ids(rest.items) == ["m2#user"]


# --- TTL --------------------------------------------------------------------------------


def test_expired_item_is_invisible_to_get_though_the_backend_still_holds_it(
    backend: Backend, sessions: Table
) -> None:
    sessions.put({"sessionId": "s1", "ttl": NOW + 10})
    assert sessions.get({"sessionId": "s1"}) is not None

    backend.clock.epoch = NOW + 10  # expired at, not only after, its TTL

    assert sessions.get({"sessionId": "s1"}) is None
    assert backend.holds(SESSIONS, {"sessionId": "s1"})


def test_a_ttl_that_is_not_a_number_never_expires(backend: Backend, sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "ttl": "soon"})
    backend.clock.epoch = NOW * 2

    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "ttl": "soon"}
    sessions.update({"sessionId": "s1"}, set_values={"a": 1}, condition=Exists("sessionId"))


def test_expired_items_are_skipped_by_query(backend: Backend, conversations: Table) -> None:
    conversations.put(record("a", ttl=NOW - 1))
    conversations.put(record("b"))
    conversations.put(record("c", ttl=NOW + 100))

    assert ids(conversations.query("s1").items) == ["b", "c"]
    assert backend.holds(CONVERSATIONS, record("a"))


def test_query_with_limit_returns_limit_live_items_between_expired_ones(
    conversations: Table,
) -> None:
    for n in range(12):
        conversations.put(record(f"r{n:02d}", ttl=NOW - 1 if n % 3 else NOW + 100))
    live = [f"r{n:02d}" for n in range(12) if n % 3 == 0]

    pages = _all_pages(lambda cursor: conversations.query("s1", limit=2, cursor=cursor))

    assert [ids(page) for page in pages] == [live[:2], live[2:]]


def test_expired_items_are_skipped_by_index_query(sessions: Table) -> None:
    sessions.put(_session("s1", "active", "1", ttl=NOW))
    sessions.put(_session("s2", "active", "2", ttl=NOW + 1))
    sessions.put(_session("s3", "active", "3", ttl=NOW - 5))
    sessions.put(_session("s4", "active", "4"))

    page = sessions.query("active", index="byActivity", limit=1)

    assert ids(page.items, "sessionId") == ["s2"]
    rest = sessions.query("active", index="byActivity", cursor=page.cursor)
    assert ids(rest.items, "sessionId") == ["s4"]


def test_not_exists_put_succeeds_over_an_expired_item(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "old": True, "ttl": NOW - 1})

    sessions.put({"sessionId": "s1", "new": True}, condition=NotExists("sessionId"))

    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "new": True}


def test_exists_update_fails_on_an_expired_item(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "n": 1, "ttl": NOW - 1})

    with pytest.raises(ConditionFailedError):
        sessions.update({"sessionId": "s1"}, increment={"n": 1}, condition=Exists("sessionId"))


def test_unconditional_update_over_an_expired_item_yields_only_the_new_attributes(
    sessions: Table,
) -> None:
    sessions.put({"sessionId": "s1", "stale": 1, "n": 10, "ttl": NOW - 1})

    returned = sessions.update({"sessionId": "s1"}, set_values={"fresh": 2}, increment={"n": 1})

    assert returned == {"sessionId": "s1", "fresh": 2, "n": 1}
    assert sessions.get({"sessionId": "s1"}) == returned


def test_update_whose_condition_holds_on_absence_starts_fresh_over_an_expired_item(
    sessions: Table,
) -> None:
    sessions.put({"sessionId": "s1", "stale": 1, "ttl": NOW - 1})

    returned = sessions.update(
        {"sessionId": "s1"}, set_values={"fresh": 2}, condition=NotExists("stale")
    )

    assert returned == {"sessionId": "s1", "fresh": 2}


def test_update_that_renews_the_ttl_of_an_expired_item_does_not_revive_it(
    sessions: Table,
) -> None:
    sessions.put({"sessionId": "s1", "stale": 1, "ttl": NOW - 1})

    returned = sessions.update({"sessionId": "s1"}, set_values={"ttl": NOW + 60})

    assert returned == {"sessionId": "s1", "ttl": int(NOW + 60)}


def test_delete_of_an_expired_item_returns_none(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "ttl": NOW - 1})

    assert sessions.delete({"sessionId": "s1"}) is None


def test_conditional_delete_treats_an_expired_item_as_absent(sessions: Table) -> None:
    sessions.put({"sessionId": "s1", "ttl": NOW - 1})

    with pytest.raises(ConditionFailedError):
        sessions.delete({"sessionId": "s1"}, condition=Exists("sessionId"))
    assert sessions.delete({"sessionId": "s1"}, condition=NotExists("sessionId")) is None


# --- limits and concurrency -------------------------------------------------------------


def test_put_of_an_item_over_400kb_raises_item_too_large_and_stores_nothing(
    sessions: Table,
) -> None:
    with pytest.raises(ItemTooLargeError):
        sessions.put({"sessionId": "s1", "blob": "x" * (MAX_ITEM_BYTES + 1)})

    assert sessions.get({"sessionId": "s1"}) is None


def test_update_that_grows_an_item_over_400kb_raises_item_too_large(sessions: Table) -> None:
    half = "x" * (MAX_ITEM_BYTES // 2 + 1024)
    sessions.put({"sessionId": "s1", "a": half})

    with pytest.raises(ItemTooLargeError):
        sessions.update({"sessionId": "s1"}, set_values={"b": half})

    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "a": half}


def test_concurrent_conditional_puts_of_one_key_let_exactly_one_win(
    backend: Backend, sessions: Table
) -> None:
    if backend.name == "dynamodb":
        # DynamoDB makes a conditional write atomic on the server; moto's in-memory backend
        # checks the condition and writes without a lock, so threads racing on one key can
        # all win there (seen once: 4 of 8). What this test holds is our SQLite adapter's
        # atomicity; for DynamoDB the guarantee is the service's, not our code's.
        pytest.skip("moto 5.2 does not make conditional writes atomic across threads")
    writers = 8
    start = threading.Barrier(writers)
    winners: list[int] = []
    losers: list[int] = []

    def write(writer: int) -> None:
        start.wait()
        try:
            sessions.put({"sessionId": "s1", "writer": writer}, condition=NotExists("sessionId"))
        except ConditionFailedError:
            losers.append(writer)
        else:
            winners.append(writer)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(winners) == 1
    assert len(losers) == writers - 1
    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "writer": winners[0]}


# --- conditions against the reference, generated -----------------------------------------

_ATTRIBUTES = ["a", "b"]
_VALUES = st.one_of(
    st.integers(-2, 2), st.sampled_from([0.5, -1.5, "x", "y", "", True, False, None])
)
_LEAVES = st.one_of(
    st.builds(Exists, st.sampled_from(_ATTRIBUTES)),
    st.builds(NotExists, st.sampled_from(_ATTRIBUTES)),
    st.builds(
        Compare,
        st.sampled_from(_ATTRIBUTES),
        st.sampled_from(["=", "<", "<=", ">", ">="]),
        _VALUES,
    ),
)
_CONDITIONS = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.builds(All, st.lists(children, max_size=3).map(tuple)),
        st.builds(AnyOf, st.lists(children, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)
_STATES = st.one_of(
    st.none(),  # no item
    st.tuples(st.dictionaries(st.sampled_from(_ATTRIBUTES), _VALUES), st.booleans()),
)
_keys = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    state=_STATES,
    condition=_CONDITIONS,
    operation=st.sampled_from(["put", "update", "delete"]),
)
def test_conditional_writes_agree_with_the_reference_evaluation(
    sessions: Table,
    state: tuple[Item, bool] | None,
    condition: Condition,
    operation: str,
) -> None:
    key = {"sessionId": f"k{next(_keys)}"}
    live: Item | None = None
    if state is not None:
        attributes, expired = state
        stored = {**key, **attributes, "ttl": NOW - 1 if expired else NOW + 60}
        sessions.put(stored)
        live = None if expired else stored
    holds = evaluate(condition, live)

    try:
        if operation == "put":
            sessions.put({**key, "hit": 1}, condition=condition)
        elif operation == "update":
            returned = sessions.update(key, set_values={"hit": 1}, condition=condition)
            assert returned == {**(live or key), "hit": 1}
        else:
            assert sessions.delete(key, condition=condition) == live
    except ConditionFailedError:
        assert not holds
        assert sessions.get(key) == live
        return
    assert holds
    if operation == "put":
        assert sessions.get(key) == {**key, "hit": 1}
    elif operation == "update":
        assert sessions.get(key) == {**(live or key), "hit": 1}
    else:
        assert sessions.get(key) is None


# --- SQLite only: one file shared by several handles (as by several processes) ------------


def test_two_sqlite_handles_on_one_file_let_exactly_one_conditional_put_win(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    handles = [SQLiteTables(path, clock=EpochClock()), SQLiteTables(path, clock=EpochClock())]
    tables = [handle.table(SESSIONS) for handle in handles]
    writers = 8
    start = threading.Barrier(writers)
    winners: list[int] = []

    def write(writer: int) -> None:
        start.wait()
        try:
            tables[writer % 2].put(
                {"sessionId": "s1", "writer": writer}, condition=NotExists("sessionId")
            )
        except ConditionFailedError:
            return
        winners.append(writer)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(winners) == 1
    for table in tables:
        assert table.get({"sessionId": "s1"}) == {"sessionId": "s1", "writer": winners[0]}
    for handle in handles:
        handle.close()


def test_sqlite_in_memory_database_holds_the_tables() -> None:
    handle = SQLiteTables(":memory:", clock=EpochClock())
    tables = handle.tables()

    event = {"dateShard": "2024-01-01#3", "eventId": "e1", "typeShard": "q#3", "timestamp": "t"}
    tables.analytics.put(event)

    assert tables.analytics.query("2024-01-01#3").items == [event]
    assert tables.analytics.query("q#3", index="byType").items == [event]
    handle.close()


def test_sqlite_purge_deletes_only_expired_rows(tmp_path: Path) -> None:
    clock = EpochClock()
    handle = SQLiteTables(tmp_path / "tables.db", clock=clock)
    sessions = handle.table(SESSIONS)
    sessions.put({"sessionId": "old", "ttl": NOW - 1})
    sessions.put({"sessionId": "new", "ttl": NOW + 1})

    assert handle.purge_expired() == 1
    clock.epoch = NOW + 1
    assert handle.purge_expired() == 1
    handle.close()


def test_a_large_integral_float_is_stored_as_the_decimal_it_stands_for(sessions: Table) -> None:
    # 3.402823466e+38's binary expansion has 39 noisy digits, past DynamoDB's 38; the value
    # stored is the decimal the float stands for, alike on every backend.
    sessions.put({"sessionId": "big", "value": 3.402823466e38})
    stored = sessions.get({"sessionId": "big"})
    assert stored is not None
    assert stored["value"] == 3402823466 * 10**29


def test_counter_increments_from_two_handles_at_once_lose_none(backend: Backend) -> None:
    """The limits' counters (chatbot.limits, chatbot.engine.budget): ``update`` with
    ``increment`` is atomic, whichever handle and thread writes."""
    handles = (backend.tables.limits, backend.other.limits)
    writers, each = 8, 25
    start = threading.Barrier(writers)
    # moto applies an UpdateItem as read, change, write in Python with no lock, so threads
    # racing through it lose increments that DynamoDB, whose ADD is atomic, never loses (a run
    # here lost 13 of 200). On moto the requests go one at a time; SQLite races for real.
    one_at_a_time = threading.Lock() if backend.name == "dynamodb" else contextlib.nullcontext()

    def write(writer: int) -> None:
        start.wait()
        for _ in range(each):
            with one_at_a_time:
                handles[writer % 2].update(
                    {"counterId": "ip#message#203.0.113.7#1"},
                    increment={"count": 1},
                    set_values={"ttl": int(backend.clock.epoch) + 120},
                )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    item = backend.other.limits.get({"counterId": "ip#message#203.0.113.7#1"})
    assert item is not None and item["count"] == writers * each
    backend.clock.epoch += 120
    assert backend.tables.limits.get({"counterId": "ip#message#203.0.113.7#1"}) is None
