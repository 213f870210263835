"""One SQLite connection shared by a process's threads, with a write transaction safe across
processes: what the local tables and the document index both stand on."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SharedConnection:
    """One connection behind one lock: every statement is short, so serialising them costs
    less than a pool would. WAL lets another process (a CLI, the MCP server) read beside a
    writer; an in-memory database keeps its own journal mode and ignores that."""

    def __init__(self, path: str | Path) -> None:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves; timeout is SQLite's busy
        # timeout when another process holds the write lock.
        self._connection = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=5.0
        )
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """A transaction that takes the write lock up front (BEGIN IMMEDIATE), so a
        read-check-write cannot interleave with another process's write to the file."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._connection.close()
