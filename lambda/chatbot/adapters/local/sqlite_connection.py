"""One SQLite connection shared by a process's threads, with a write transaction safe across
processes: what the local tables and the document index both stand on."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# How long a write waits for another process's write lock, and how often it looks again.
# SQLite's own busy handler backs off to 100 ms sleeps, so beside the engine workers' writes
# the gateway's (an ack's) would wait hundreds of milliseconds for a lock held for one.
WRITE_LOCK_TIMEOUT_SECONDS = 5.0
WRITE_LOCK_RETRY_SECONDS = 0.0005
BUSY_TIMEOUT_MS = int(WRITE_LOCK_TIMEOUT_SECONDS * 1000)


class SharedConnection:
    """One connection behind one lock: every statement is short, so serialising them costs
    less than a pool would. WAL lets another process (a CLI, the MCP server) read beside a
    writer; an in-memory database keeps its own journal mode and ignores that."""

    def __init__(self, path: str | Path, *, checkpoints: bool = True) -> None:
        """``checkpoints=False``: this connection's commits never checkpoint the WAL (another
        process's do), so no commit of its own pays for copying the log into the database."""
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves; timeout is SQLite's busy
        # timeout when another process holds the write lock.
        self._connection = sqlite3.connect(
            str(path),
            check_same_thread=False,
            isolation_level=None,
            timeout=WRITE_LOCK_TIMEOUT_SECONDS,
        )
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
            if not checkpoints:
                self._connection.execute("PRAGMA wal_autocheckpoint = 0")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """A transaction that takes the write lock up front (BEGIN IMMEDIATE), so a
        read-check-write cannot interleave with another process's write to the file."""
        with self._lock:
            self._begin_immediate()
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _begin_immediate(self) -> None:
        """BEGIN IMMEDIATE, retried every half millisecond or so while another process
        holds the write lock (reads keep SQLite's busy timeout: WAL readers rarely wait)."""
        connection = self._connection
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + WRITE_LOCK_TIMEOUT_SECONDS
            while True:
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                # Jittered, so that waiting processes do not retry in step.
                time.sleep(WRITE_LOCK_RETRY_SECONDS * (0.5 + random.random()))  # noqa: S311
        finally:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def close(self) -> None:
        with self._lock:
            self._connection.close()
