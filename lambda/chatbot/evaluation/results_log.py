"""The Markdown logs under bench/results/ that every evaluation appends to with --output."""

from __future__ import annotations

import os
import platform
from datetime import datetime
from pathlib import Path


def machine() -> str:
    """What the figures were measured on."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
        f"Python {platform.python_version()}"
    )


def append_section(output: Path, text: str, *, title: str, command: str, when: datetime) -> None:
    """Append ``text`` to the log at ``output``, headed by the date and the machine. A new log
    starts with ``title`` and a line naming ``command``, the command that writes it."""
    if not output.exists():
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(
            f"# {title}\n\nAppended by `{command} --output`; newest last.\n", encoding="utf-8"
        )
    with output.open("a", encoding="utf-8") as log:
        log.write(f"\n## {when:%Y-%m-%d %H:%M} UTC, {machine()}\n\n{text}")
