"""Who checkpoints the local SQLite WAL: with engine workers, their commits, never the
gateway's one connection (a checkpoint there held every ack behind it)."""

from __future__ import annotations

from pathlib import Path

from chatbot.adapters.local.sqlite_connection import SharedConnection

PAGES = 1_200  # past SQLite's default autocheckpoint of 1,000 pages


def _write_pages(connection: SharedConnection) -> None:
    with connection.writing() as db:
        db.execute("CREATE TABLE IF NOT EXISTS t (v BLOB)")
    for _ in range(PAGES // 2):
        with connection.writing() as db:
            db.execute("INSERT INTO t VALUES (randomblob(8000))")


def _wal_frames(connection: SharedConnection) -> int:
    with connection.reading() as db:
        # PASSIVE reports the log's size in frames without waiting on anyone.
        _busy, log_frames, _done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(log_frames)


def test_a_connection_without_checkpoints_leaves_the_whole_log(tmp_path: Path) -> None:
    connection = SharedConnection(tmp_path / "off.sqlite3", checkpoints=False)
    try:
        with connection.reading() as db:
            assert db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        _write_pages(connection)
        assert _wal_frames(connection) > 1_000
    finally:
        connection.close()


def test_by_default_commits_checkpoint_the_log(tmp_path: Path) -> None:
    connection = SharedConnection(tmp_path / "on.sqlite3")
    try:
        with connection.reading() as db:
            assert db.execute("PRAGMA wal_autocheckpoint").fetchone() == (1_000,)
        _write_pages(connection)
        assert _wal_frames(connection) < 1_000
    finally:
        connection.close()
