"""SQLite adapter of the tables port: every logical table in one database file."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chatbot.adapters import items as rules
from chatbot.adapters.local.private_files import private_database
from chatbot.adapters.local.sqlite_connection import SharedConnection
from chatbot.clock import Clock
from chatbot.tables import (
    ALL_TABLES,
    ANALYTICS,
    CONNECTIONS,
    CONVERSATIONS,
    LIMITS,
    SESSIONS,
    Condition,
    ConditionFailedError,
    IndexSpec,
    Item,
    QueryPage,
    SortKeyCondition,
    Tables,
    TableSpec,
    evaluate,
)

# Table, index and key names are spliced into DDL (expression indexes cannot take parameters),
# so they are held to shapes that need no quoting. Item attribute names are never spliced.
_SQL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_KEY_ATTRIBUTE = re.compile(r"[A-Za-z0-9_-]+\Z")

_SORT_OPERATORS = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _checked_name(kind: str, name: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(name):
        raise ValueError(f"{kind} name {name!r} is not supported by the SQLite adapter")
    return name


class SQLiteTables:
    """All logical tables in one SQLite file (or ``":memory:"``), shared by every thread."""

    def __init__(self, path: str | Path, *, clock: Clock, checkpoints: bool = True) -> None:
        self._clock = clock
        private_database(path)
        self._connection = SharedConnection(path, checkpoints=checkpoints)
        self._tables_lock = threading.Lock()
        self._tables: dict[str, SQLiteTable] = {}

    def table(self, spec: TableSpec) -> SQLiteTable:
        with self._tables_lock:
            existing = self._tables.get(spec.name)
            if existing is not None and existing.spec == spec:
                return existing
            table = SQLiteTable(self._connection, spec, self._clock)
            self._tables[spec.name] = table
            return table

    def tables(self) -> Tables:
        return Tables(
            sessions=self.table(SESSIONS),
            connections=self.table(CONNECTIONS),
            conversations=self.table(CONVERSATIONS),
            analytics=self.table(ANALYTICS),
            limits=self.table(LIMITS),
        )

    def purge_expired(self) -> int:
        """Physically delete expired rows of the app's tables; return how many went."""
        return sum(self.table(spec).purge_expired() for spec in ALL_TABLES)

    def close(self) -> None:
        self._connection.close()


class SQLiteTable:
    """One logical table stored as one SQL table of (pk, sk, ttl, body JSON) rows."""

    def __init__(
        self,
        connection: SharedConnection,
        spec: TableSpec,
        clock: Clock,
    ) -> None:
        self._connection = connection
        self._spec = spec
        self._clock = clock
        self._sql = f'"t_{_checked_name("table", spec.name, _SQL_NAME)}"'
        # S608: only the checked table name is spliced in; every value is a bound parameter.
        self._select_live = (
            f"SELECT body FROM {self._sql} "  # noqa: S608
            "WHERE pk = ? AND sk = ? AND (ttl IS NULL OR ttl > ?)"
        )
        self._upsert = (
            f"INSERT OR REPLACE INTO {self._sql} (pk, sk, ttl, body) "  # noqa: S608
            "VALUES (?, ?, ?, ?)"
        )
        self._delete = f"DELETE FROM {self._sql} WHERE pk = ? AND sk = ?"  # noqa: S608
        self._purge = f"DELETE FROM {self._sql} WHERE ttl IS NOT NULL AND ttl <= ?"  # noqa: S608
        self._index_columns: dict[str, tuple[str, str | None]] = {
            index.name: (
                self._attribute_expression(index.partition_key),
                None if index.sort_key is None else self._attribute_expression(index.sort_key),
            )
            for index in spec.indexes
        }
        self._create()

    @property
    def spec(self) -> TableSpec:
        return self._spec

    @staticmethod
    def _attribute_expression(attribute: str) -> str:
        _checked_name("index key attribute", attribute, _KEY_ATTRIBUTE)
        return f"json_extract(body, '$.\"{attribute}\"')"

    def _create(self) -> None:
        with self._connection.writing() as connection:
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self._sql} ("
                "pk TEXT NOT NULL, sk TEXT NOT NULL, ttl REAL, body TEXT NOT NULL, "
                "PRIMARY KEY (pk, sk)) WITHOUT ROWID"
            )
            for index in self._spec.indexes:
                name = _checked_name("index", index.name, _SQL_NAME)
                partition, sort = self._index_columns[index.name]
                # pk and sk close the index so ordering and cursor ties are resolved in it too.
                columns = ", ".join(column for column in (partition, sort, "pk", "sk") if column)
                connection.execute(
                    f'CREATE INDEX IF NOT EXISTS "ix_{self._spec.name}_{name}" '
                    f"ON {self._sql} ({columns})"
                )

    def _row_key(self, key: Mapping[str, Any]) -> tuple[str, str]:
        table_key = rules.check_key(self._spec, key)
        sort_key = self._spec.sort_key
        return table_key[self._spec.partition_key], "" if sort_key is None else table_key[sort_key]

    def _live(
        self, connection: sqlite3.Connection, row_key: tuple[str, str], now: float
    ) -> Item | None:
        row = connection.execute(self._select_live, (*row_key, now)).fetchone()
        return None if row is None else _decoded(row[0])

    def _store(self, connection: sqlite3.Connection, item: Item) -> None:
        rules.check_item(self._spec, item)
        ttl = None if self._spec.ttl_attribute is None else item.get(self._spec.ttl_attribute)
        # Same rule as rules.is_expired: only a number is an expiry time.
        expiry = float(ttl) if isinstance(ttl, int | float) and not isinstance(ttl, bool) else None
        body = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        connection.execute(self._upsert, (*self._row_key(item), expiry, body))

    def get(self, key: Mapping[str, Any]) -> Item | None:
        row_key = self._row_key(key)
        with self._connection.reading() as connection:
            return self._live(connection, row_key, self._clock.time())

    def put(self, item: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        new_item: Item = rules.normalize(item)
        row_key = self._row_key(new_item)
        with self._connection.writing() as connection:
            if condition is not None:
                current = self._live(connection, row_key, self._clock.time())
                if not evaluate(condition, current):
                    raise ConditionFailedError(f"put on {self._spec.name} {row_key}")
            self._store(connection, new_item)

    def update(
        self,
        key: Mapping[str, Any],
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        increment: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> Item:
        table_key, new_values, removed, deltas = rules.prepare_update(
            self._spec, key, set_values, remove, increment
        )
        row_key = self._row_key(table_key)
        with self._connection.writing() as connection:
            current = self._live(connection, row_key, self._clock.time())
            if condition is not None and not evaluate(condition, current):
                raise ConditionFailedError(f"update on {self._spec.name} {row_key}")
            # An expired item counts as absent, so the update starts from the bare key.
            item = current if current is not None else dict(table_key)
            item.update(new_values)
            for attribute in removed:
                item.pop(attribute, None)
            for attribute, delta in deltas.items():
                item[attribute] = rules.add_numbers(item.get(attribute, 0), delta)
            self._store(connection, item)
        return item

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> Item | None:
        row_key = self._row_key(key)
        with self._connection.writing() as connection:
            current = self._live(connection, row_key, self._clock.time())
            if condition is not None and not evaluate(condition, current):
                raise ConditionFailedError(f"delete on {self._spec.name} {row_key}")
            connection.execute(self._delete, row_key)
        return current

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
        rules.check_limit(limit)
        index_spec = None if index is None else self._spec.index(index)
        if index_spec is None:
            partition, sort_column = "pk", "sk" if self._spec.sort_key else None
        else:
            partition, sort_column = self._index_columns[index_spec.name]
        where = [f"{partition} = ?", "(ttl IS NULL OR ttl > ?)"]
        params: list[Any] = [partition_value, self._clock.time()]
        if sort_column is not None and index_spec is not None:
            # Like a DynamoDB index, one keeps only items that carry its sort key.
            where.append(f"{sort_column} IS NOT NULL")
        if sort is not None:
            if sort_column is None:
                raise ValueError("sort condition on a query without a sort key")
            where.append(_sort_clause(sort_column, sort, params))
        # A table partition is ordered by sk alone; an index breaks ties by the table's key.
        order = ["sk"] if index_spec is None else [c for c in (sort_column, "pk", "sk") if c]
        if cursor is not None:
            position = rules.decode_cursor(cursor, self._spec, index_spec, partition_value)
            where.append(
                f"({', '.join(order)}) {'>' if ascending else '<'} "
                f"({', '.join('?' for _ in order)})"
            )
            values = self._cursor_values(index_spec, position)
            params.extend(values)
            # SQLite does not seek an index by a row-value comparison; this bound on the first
            # column (implied by it) lets it start the scan at the cursor.
            where.append(f"{order[0]} {'>=' if ascending else '<='} ?")
            params.append(values[0])
        direction = "ASC" if ascending else "DESC"
        sql = (
            f"SELECT body FROM {self._sql} WHERE {' AND '.join(where)} "  # noqa: S608
            f"ORDER BY {', '.join(f'{column} {direction}' for column in order)}"
        )
        if limit is not None:
            # One row more than asked says whether a next page exists.
            sql += " LIMIT ?"
            params.append(limit + 1)
        with self._connection.reading() as connection:
            rows = connection.execute(sql, params).fetchall()
        found = [_decoded(body) for (body,) in rows]
        if limit is None or len(found) <= limit:
            return QueryPage(items=found, cursor=None)
        page = found[:limit]
        return QueryPage(
            items=page,
            cursor=rules.encode_cursor(rules.position_of(self._spec, index_spec, page[-1])),
        )

    def _cursor_values(self, index: IndexSpec | None, position: Item) -> list[str]:
        table_sort = "" if self._spec.sort_key is None else position[self._spec.sort_key]
        if index is None:
            return [table_sort]
        values = [position[self._spec.partition_key], table_sort]
        if index.sort_key is not None:
            values.insert(0, position[index.sort_key])
        return values

    def purge_expired(self) -> int:
        with self._connection.writing() as connection:
            return connection.execute(self._purge, (self._clock.time(),)).rowcount


def _sort_clause(column: str, sort: SortKeyCondition, params: list[Any]) -> str:
    if sort.op == "between":
        if sort.upper is None:
            raise ValueError("between needs an upper bound")
        params.extend([sort.value, sort.upper])
        return f"{column} BETWEEN ? AND ?"
    if sort.op == "begins_with":
        params.extend([len(sort.value), sort.value])
        return f"substr({column}, 1, ?) = ?"
    params.append(sort.value)
    return f"{column} {_SORT_OPERATORS[sort.op]} ?"


def _decoded(body: str) -> Item:
    item: Item = json.loads(body)
    return item
