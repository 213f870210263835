"""The one clock: the system's is UTC, and no runtime module reads the date behind its back."""

from __future__ import annotations

import ast
from datetime import UTC, timedelta
from pathlib import Path

from chatbot.clock import SystemClock

PACKAGE = Path(__file__).resolve().parents[2] / "lambda" / "chatbot"
# Calls that read the wall clock. Durations (time.monotonic, time.perf_counter) are allowed:
# they never end up in a stored or compared date.
WALL_CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
}


def wall_clock_reads(source: str) -> list[str]:
    found = []
    # A call or a reference (``clock=time.time``) alike.
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in WALL_CLOCK_READS
        ):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


def test_the_system_clock_tells_utc_and_its_three_readings_agree() -> None:
    clock = SystemClock()
    moment = clock.now()
    assert moment.tzinfo is UTC
    assert abs(moment.timestamp() - clock.time()) < 5
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_the_check_finds_a_wall_clock_read() -> None:
    assert wall_clock_reads("import time\nstamp = time.time()\n") == ["time.time (line 2)"]
    assert wall_clock_reads("from datetime import datetime\nf = datetime.now\n") == [
        "datetime.now (line 2)"
    ]


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): reads
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "clock.py" and (reads := wall_clock_reads(path.read_text()))
    }
    assert offenders == {}


def test_the_fake_clock_moves_only_when_told(clock: object) -> None:
    from tests.conftest import FakeClock

    assert isinstance(clock, FakeClock)
    before = clock.now()
    assert clock.now() == before
    clock.advance(minutes=1)
    assert clock.now() - before == timedelta(minutes=1)
    assert clock.monotonic() == 60
