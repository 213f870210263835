"""`chatbot analytics`: summary, events, export and chart over a seeded local store."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics_chart import DPI, FIGURE_INCHES
from chatbot.analytics_cli import main
from chatbot.config import Settings
from chatbot.records import day_partitions
from chatbot.tables import ANALYTICS
from tests.conftest import FakeClock
from tests.unit.test_analytics_report import seed_events

RANGE = ["--from", "2026-11-22", "--to", "2026-11-24"]
REPO = Path(__file__).resolve().parents[2]
# The day the seeded events end on, as the command's clock.
TODAY = FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))


@pytest.fixture
def store(settings: Settings) -> Iterator[SQLiteTables]:
    settings.state_dir.mkdir(parents=True)
    tables = SQLiteTables(settings.sqlite_path, clock=TODAY)
    seed_events(tables.table(ANALYTICS))
    yield tables
    tables.close()


def run(settings: Settings, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), settings=settings, clock=TODAY, stdout=out)
    return status, out.getvalue()


def row_of(output: str, first_cell: str) -> list[str]:
    [line] = [line for line in output.splitlines() if line.startswith(first_cell + " ")]
    return line.split()


def test_summary_prints_a_row_per_day_and_a_total(settings: Settings, store: SQLiteTables) -> None:
    status, output = run(settings, "summary", *RANGE)

    assert status == 0
    header = row_of(output, "day")
    busy = dict(zip(header, row_of(output, "2026-11-22"), strict=False))
    assert (busy["sessions"], busy["active"], busy["messages"], busy["rag"]) == ("1", "1", "3", "3")
    assert row_of(output, "2026-11-23")[4] == "0"
    total = row_of(output, "total")
    # total: 2 sessions, 2 active, 1 closed, 4 messages ... p50 200, p95 1,000, cost 0.5300
    assert total[1:5] == ["2", "2", "1", "4"]
    assert total[-5:] == ["200", "1,000", "67", "18", "0.5300"]
    assert "create_record" in output and "MODEL_UNAVAILABLE" in output


def test_summary_as_json_holds_the_same_figures(settings: Settings, store: SQLiteTables) -> None:
    status, output = run(settings, "summary", "--days", "3", "--format", "json")

    assert status == 0
    busy, empty, quiet, total = json.loads(output)
    assert busy["queryTypes"] == {"rag": 3} and busy["toolFailures"] == {
        "search_documents": 0,
        "create_record": 1,
    }
    assert empty["messages"] == 0 and empty["latencyP95Ms"] is None
    assert quiet["feedback"] == {"down": 1} and quiet["costUsd"] == 0.5
    assert (total["messages"], total["costUsd"], total["latencyP95Ms"]) == (4, 0.53, 1000)


def test_events_lists_the_newest_of_a_type_up_to_the_limit(
    settings: Settings, store: SQLiteTables
) -> None:
    status, output = run(settings, "events", *RANGE, "--type", "query", "--limit", "2")

    assert status == 0
    lines = [line for line in output.splitlines() if "Z " in line]
    assert [line.split()[2] for line in lines] == ["s2", "s1"]
    assert '"latencyMs":1000' in lines[0] and '"latencyMs":200' in lines[1]
    assert "2 events, newest first (the limit" in output


def test_export_csv_has_a_row_per_event_with_detail_columns(
    settings: Settings, store: SQLiteTables
) -> None:
    status, output = run(settings, "export", *RANGE, "--format", "csv")

    assert status == 0
    rows = list(csv.DictReader(io.StringIO(output)))
    assert len(rows) == 12
    queries = [row for row in rows if row["eventType"] == "query"]
    assert [row["costUsd"] for row in queries] == ["0.01", "0.02", "", "0.5"]
    assert [row["routedBy"] for row in queries] == ["semantic", "semantic", "", "model"]
    assert json.loads(queries[3]["details"])["inputTokens"] == 7
    assert [row["timestamp"] for row in rows] == sorted(row["timestamp"] for row in rows)


def test_export_jsonl_to_a_file_writes_the_stored_events(
    settings: Settings, store: SQLiteTables, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "s1.jsonl"
    target.parent.mkdir()
    status, _ = run(
        settings, "export", *RANGE, "--format", "jsonl", "--session", "s1", "--output", str(target)
    )

    assert status == 0
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    # As stored in every shard of the days, without the attributes that only place them.
    stored = sorted(
        (
            {key: value for key, value in item.items() if key not in ("dateShard", "typeShard")}
            for day in ("2026-11-22", "2026-11-24")
            for shard in day_partitions(day)
            for item in store.table(ANALYTICS).query(shard).items
            if item["sessionId"] == "s1"
        ),
        key=lambda item: item["eventId"],
    )
    assert exported == stored and len(exported) == 9


def test_chart_writes_a_png_of_the_configured_size(
    settings: Settings, store: SQLiteTables, tmp_path: Path
) -> None:
    target = tmp_path / "usage.png"
    status, output = run(settings, "chart", *RANGE, "--output", str(target))

    assert status == 0 and str(target) in output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.size == (int(FIGURE_INCHES[0] * DPI), int(FIGURE_INCHES[1] * DPI))
        # Not a blank canvas: the panels drew something besides the background.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 10


def test_a_missing_local_store_is_reported_not_created(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = run(settings, "summary")

    assert status == 2
    assert "no local store" in capsys.readouterr().err
    assert not settings.sqlite_path.exists()


def test_from_and_days_together_are_refused(settings: Settings, store: SQLiteTables) -> None:
    assert run(settings, "summary", "--from", "2026-11-01", "--days", "3")[0] == 2


def test_only_the_chart_command_imports_matplotlib(settings: Settings, store: SQLiteTables) -> None:
    script = (
        "import sys\n"
        "from chatbot.cli import main\n"
        "main(['analytics', 'summary', '--days', '3'])\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    environment = {"CHATBOT_STATE_DIR": str(settings.state_dir), "PYTHONPATH": str(REPO / "lambda")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Analytics" in result.stdout
