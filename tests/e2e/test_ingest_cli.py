"""`chatbot ingest` as a person runs it: a folder in, a summary out, re-runs change nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PDF_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "ingest" / "pumps.pdf"
# Settings a developer's shell may carry that would change what the test sees.
_LEAKY_SETTINGS = ("CHATBOT_ENV", "CHATBOT_STATE_DIR")


def ingest(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in _LEAKY_SETTINGS}
    env["CHATBOT_STATE_DIR"] = str(cwd / "state")
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "ingest", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ingest_a_folder_then_again_then_delete_one_document(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Pumps\n\nPumps move water.\n\n## Seals\n\nSeals leak.\n")
    (docs / "page.html").write_text("<title>Valves</title><h1>Valves</h1><p>Valves shut.</p>")
    (docs / "notes.txt").write_text("Check the gauge weekly.\n")
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    shutil.copy(PDF_FIXTURE, docs / "manual.pdf")

    first = ingest(tmp_path, "docs")
    assert first.returncode == 0, first.stderr
    # The local model embeds 4 files' chunks; the image is skipped, named on stderr.
    assert "Ingested 4 files in " in first.stdout
    assert "4 chunks added, 0 unchanged, 0 removed (4 embedded); 1 skipped." in first.stdout
    assert "skipped docs/logo.png: unsupported file type '.png'" in first.stderr
    assert "Traceback" not in first.stderr
    assert (tmp_path / "state" / "documents.sqlite3").exists()

    again = ingest(tmp_path, "docs")
    assert again.returncode == 0, again.stderr
    assert "0 chunks added, 4 unchanged, 0 removed (0 embedded)" in again.stdout

    deleted = ingest(tmp_path, "--delete", "docs/manual.pdf")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "Removed docs/manual.pdf (1 chunks).\n"


def test_ingest_without_paths_or_delete_is_a_usage_error(tmp_path: Path) -> None:
    result = ingest(tmp_path)
    assert result.returncode == 2
    assert "ingest needs a PATH to ingest or --delete SOURCE" in result.stderr
