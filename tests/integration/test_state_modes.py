"""The state folder is 0700 and every file in it 0600, whoever made them (issue 13, found 10)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chatbot.adapters.local.documents import SQLiteDocumentIndex
from chatbot.adapters.store import table_store
from chatbot.config import Settings
from chatbot.tokens import load_or_create_local_secret
from tests.conftest import FakeClock


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def open_everything(settings: Settings, clock: FakeClock) -> None:
    """What `chatbot serve` opens in the state folder: tables (written, so WAL files exist),
    the session-token key and the document index."""
    store = table_store(settings, clock)
    store.tables().sessions.put({"sessionId": "s1", "note": "private"})
    load_or_create_local_secret(settings.secret_path)
    index = SQLiteDocumentIndex(settings.documents_path)
    try:
        assert {p.name for p in settings.state_dir.iterdir()} >= {
            "chatbot.sqlite3",
            "chatbot.sqlite3-wal",
            "chatbot.sqlite3-shm",
            "session-secret",
            "documents.sqlite3",
        }
        assert mode(settings.state_dir) == 0o700
        assert {p.name: mode(p) for p in settings.state_dir.iterdir()} == {
            p.name: 0o600 for p in settings.state_dir.iterdir()
        }
    finally:
        index.close()
        store.close()


@pytest.fixture(autouse=True)
def permissive_umask() -> object:
    """The common umask 022, under which files are made 0644 unless the app says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_state_folder_the_app_makes_is_private(settings: Settings, clock: FakeClock) -> None:
    open_everything(settings, clock)


def test_an_existing_world_readable_folder_and_files_are_made_private(
    settings: Settings, clock: FakeClock
) -> None:
    settings.state_dir.mkdir(mode=0o755)
    os.chmod(settings.state_dir, 0o755)
    for name in ("chatbot.sqlite3", "chatbot.sqlite3-wal", "chatbot.sqlite3-shm"):
        (settings.state_dir / name).touch(mode=0o644)
    settings.secret_path.write_bytes(os.urandom(32))
    os.chmod(settings.secret_path, 0o644)
    assert mode(settings.state_dir / "chatbot.sqlite3") == 0o644

    open_everything(settings, clock)
