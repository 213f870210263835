"""The state folder and every file in it readable by their owner only, whatever was there.

A folder made by someone else (``mkdir .chatbot``, 0755) or a database copied in (0644) would
otherwise leave chat history world-readable: ``mkdir(mode=0o700, exist_ok=True)`` sets the
mode only of a folder it creates, and SQLite creates its files with the process's umask.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
# The files SQLite keeps beside a database (WAL mode's log and shared index, a rollback
# journal): they hold the same rows.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> None:
    """``path`` (made with its parents if missing) with mode 0700."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIRECTORY_MODE)


def private_file(path: Path) -> None:
    """``path`` with mode 0600, created empty first if missing (never truncated).

    An existing file is only chmodded, never opened: closing any descriptor of a file drops
    every POSIX lock this process holds on it, SQLite's included, and another process could
    then check the shared WAL away beneath this one's open connection."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    os.chmod(path, FILE_MODE)


def private_database(path: str | Path) -> None:
    """A SQLite file and the side files beside it with mode 0600 (an in-memory one: nothing).

    Called before SQLite opens the file, so that SQLite, which gives the ``-wal`` and
    ``-shm`` files it creates the database's own mode, makes them 0600 too; side files left
    from before with another mode are set here."""
    if str(path) == ":memory:" or str(path).startswith("file:"):
        return
    database = Path(path)
    private_file(database)
    for suffix in SQLITE_SIDE_FILES:
        side = database.with_name(database.name + suffix)
        if side.exists():
            os.chmod(side, FILE_MODE)
