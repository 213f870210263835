"""The README's configuration table lists every setting `chatbot.config.Settings` reads, each
with its real default, and nothing else.

The table's rows are `| variables | defaults | meaning |`. A row may group variables
(`` `A`, `B` ``); its defaults cell then holds one default per variable, in order and
separated by commas, or one default that all of them share. A default is the value in
backticks (`` `30` ``, `` `semantic` ``), or, for a setting with no default (None), text
starting with "none" or "unset" that says what happens then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from chatbot.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
_VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")
_UNSET = ("none", "unset")


@dataclass(frozen=True)
class Row:
    variables: list[str]
    defaults: list[str]
    meaning: str
    line: str


def configuration_rows(readme: str) -> list[Row]:
    """The rows of the first table under `## Configuration`."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    rows = []
    for line in lines[2:]:  # the header and its rule
        cells = _cells(line)
        if len(cells) != 3:
            raise AssertionError(f"a configuration row needs 3 cells, not {len(cells)}: {line}")
        names, defaults, meaning = cells
        rows.append(Row(_VARIABLE.findall(names), _split(defaults), meaning, line))
    return rows


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells; a `|` inside backticks does not end a cell."""
    cells, current, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    return [*cells, current.strip()]


def _split(cell: str) -> list[str]:
    """Comma-separated items, not splitting inside backticks or parentheses."""
    items, current, in_code, depth = [], "", False, 0
    for char in cell:
        if char == "`":
            in_code = not in_code
        elif not in_code and char == "(":
            depth += 1
        elif not in_code and char == ")":
            depth -= 1
        if char == "," and not in_code and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [*items, current.strip()]


def documented_defaults() -> dict[str, tuple[str, Row]]:
    """Variable -> (its default as written, its row)."""
    found: dict[str, tuple[str, Row]] = {}
    for row in configuration_rows(README.read_text(encoding="utf-8")):
        assert row.variables, f"a configuration row names no variable: {row.line}"
        assert row.meaning, f"a configuration row says nothing about what it does: {row.line}"
        if len(row.defaults) not in (1, len(row.variables)):
            raise AssertionError(
                f"{len(row.variables)} variables but {len(row.defaults)} defaults: {row.line}"
            )
        for index, variable in enumerate(row.variables):
            assert variable not in found, f"{variable} has two rows in the configuration table"
            written = row.defaults[index if len(row.defaults) > 1 else 0]
            found[variable] = (written, row)
    return found


def settings_defaults() -> dict[str, Any]:
    """Environment variable -> the default Settings uses when it is unset."""
    defaults = {}
    for name, field in Settings.model_fields.items():
        assert field.alias, f"Settings.{name} reads no environment variable"
        defaults[field.alias] = field.get_default(call_default_factory=True)
    return defaults


def matches(written: str, default: Any) -> bool:
    if default is None:
        return "`" not in written.split("(", 1)[0] and written.lower().startswith(_UNSET)
    value = re.fullmatch(r"`([^`]*)`", written)
    if value is None:
        return False
    text = value.group(1)
    if isinstance(default, bool):
        return text == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(text) == float(default)
        except ValueError:
            return False
    if isinstance(default, SecretStr):
        return text == default.get_secret_value()
    if isinstance(default, Enum):
        return text == str(default.value)
    if isinstance(default, Path):
        return text == str(default)
    return bool(text == default)


def described(default: Any) -> str:
    if default is None:
        return 'text starting "none" or "unset" (no default)'
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if isinstance(default, bool):
        default = str(default).lower()
    return f"`{default.value if isinstance(default, Enum) else default}`"


def test_the_table_parser_reads_grouped_rows() -> None:
    readme = (
        "# x\n\n## Configuration\n\n| variable | default | meaning |\n| --- | --- | --- |\n"
        "| `A_B`, `C_D` | none (uses `X`), `1` | two (a, b) |\n"
        "| `E_F` | `x|y` | piped |\n\n## Next\n"
    )
    assert configuration_rows(readme) == [
        Row(["A_B", "C_D"], ["none (uses `X`)", "`1`"], "two (a, b)", readme.splitlines()[6]),
        Row(["E_F"], ["`x|y`"], "piped", readme.splitlines()[7]),
    ]


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    documented = documented_defaults()
    missing = [
        f"{variable} (default {described(default)})"
        for variable, default in settings_defaults().items()
        if variable not in documented
    ]
    assert not missing, (
        "README.md's configuration table has no row for: "
        + "; ".join(missing)
        + ". Add a row (| `VARIABLE` | default | meaning |) under ## Configuration."
    )


def test_the_readme_configuration_table_names_only_settings_that_exist() -> None:
    unknown = sorted(set(documented_defaults()) - set(settings_defaults()))
    assert not unknown, (
        f"README.md's configuration table names variables Settings does not read: {unknown}"
    )


@pytest.mark.parametrize("variable", sorted(settings_defaults()))
def test_the_readme_gives_each_setting_its_real_default(variable: str) -> None:
    documented = documented_defaults()
    if variable not in documented:
        pytest.skip(f"{variable} has no row (see the test for missing rows)")
    written, row = documented[variable]
    default = settings_defaults()[variable]
    assert matches(written, default), (
        f"README.md gives {variable} the default {written!r}; Settings' default is "
        f"{described(default)}. Row: {row.line}"
    )
