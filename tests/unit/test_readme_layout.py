"""The README's layout tour names only paths that exist, and every handler module."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A name of a file or folder in a description: `analytics_cli.py`, `schemas/`.
_MENTIONED = re.compile(r"(?<![\w/.-])([\w-]+(?:\.(?:py|yaml|json|md|txt|sh)|/))(?![\w])")


def layout_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return [line[4:] for line in section.splitlines() if line.startswith("    ")]


def layout_paths() -> list[tuple[Path, str, str]]:
    """(the entry's path, its description with continuation lines, its line) for each entry."""
    entries: list[tuple[Path, str, str]] = []
    parents: list[tuple[int, Path]] = []  # (indent, folder) of the enclosing entries
    for line in layout_lines():
        indent = len(line) - len(line.lstrip())
        if indent >= 20:  # a description's continuation
            path, description, first = entries[-1]
            entries[-1] = (path, f"{description} {line.strip()}", first)
            continue
        column, _, description = line.strip().partition("  ")
        while parents and parents[-1][0] >= indent:
            parents.pop()
        base = parents[-1][1] if parents else ROOT
        for name in column.split(", "):
            path = base / name
            entries.append((path, description.strip(), line))
            if name.endswith("/"):
                parents.append((indent, path))
    return entries


def test_every_path_the_layout_tour_names_exists() -> None:
    missing = [
        f"{path.relative_to(ROOT)} ({line.strip()})"
        for path, _, line in layout_paths()
        if not path.exists()
    ]
    assert not missing, "README.md's layout names paths that do not exist: " + "; ".join(missing)


def test_every_file_a_layout_description_mentions_exists_where_it_says() -> None:
    missing = []
    for path, description, line in layout_paths():
        folder = path if path.is_dir() else path.parent
        for name in _MENTIONED.findall(description):
            candidates = [folder / name, ROOT / name, *folder.rglob(name.rstrip("/"))]
            if not any(candidate.exists() for candidate in candidates):
                missing.append(f"{name} (near {path.relative_to(ROOT)}: {line.strip()})")
    assert not missing, "README.md's layout mentions files that do not exist: " + "; ".join(missing)


def test_the_layout_names_every_handler_module() -> None:
    handlers = ROOT / "lambda" / "chatbot" / "handlers"
    [description] = [text for path, text, _ in layout_paths() if path == handlers]
    modules = sorted(path.stem for path in handlers.glob("*.py") if path.stem != "__init__")
    unnamed = [module for module in modules if not re.search(rf"\b{module}\b", description)]
    assert not unnamed, f"README.md's layout does not name these handler modules: {unnamed}"
