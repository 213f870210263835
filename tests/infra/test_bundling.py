"""The Lambda package's fingerprint: any file that lands in the package changes it, so an edit
to code or to a data file beside it is redeployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks import bundling


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "lambda" / "chatbot" / "engine").mkdir(parents=True)
    (tmp_path / "lambda" / "chatbot" / "engine" / "engine.py").write_text("x = 1\n")
    (tmp_path / "lambda" / "chatbot" / "engine" / "route_examples.yaml").write_text("rag: [a]\n")
    (tmp_path / "lambda" / "chatbot" / "engine" / "route_vectors").mkdir()
    (tmp_path / "lambda" / "chatbot" / "engine" / "route_vectors" / "m.f16").write_text("{}\n")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "mcp_tools.yaml").write_text("openapi: 3.1.0\n")
    (tmp_path / "requirements.txt").write_text("boto3==1\n")
    monkeypatch.setattr(bundling, "REPO", tmp_path)
    monkeypatch.setattr(bundling, "SOURCE", tmp_path / "lambda")
    monkeypatch.setattr(bundling, "LOCK", tmp_path / "requirements.txt")
    return tmp_path


@pytest.mark.parametrize(
    "changed",
    [
        "lambda/chatbot/engine/engine.py",
        "lambda/chatbot/engine/route_examples.yaml",
        "lambda/chatbot/engine/route_vectors/m.f16",
        "schemas/mcp_tools.yaml",
        "requirements.txt",
    ],
)
def test_every_packaged_file_changes_the_fingerprint(tree: Path, changed: str) -> None:
    before = bundling.FULL.fingerprint()
    path = tree / changed
    path.write_text(path.read_text() + "# edited\n")
    assert bundling.FULL.fingerprint() != before


def test_files_outside_the_package_do_not(tree: Path) -> None:
    before = bundling.FULL.fingerprint()
    (tree / "README.md").write_text("notes\n")
    (tree / "lambda" / "chatbot" / "engine" / "__pycache__").mkdir()
    (tree / "lambda" / "chatbot" / "engine" / "__pycache__" / "engine.cpython-311.pyc").write_text(
        ""
    )
    assert bundling.FULL.fingerprint() == before
    assert bundling.LIGHT.fingerprint() != before
