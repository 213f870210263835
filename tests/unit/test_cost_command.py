"""`chatbot cost`: its printed report, and `--days` measuring a seeded analytics store."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatbot import cli
from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics import AnalyticsRecorder
from chatbot.config import Settings
from chatbot.cost.command import main
from chatbot.cost.estimate import assumption_names
from chatbot.tables import ANALYTICS
from tests.conftest import FakeClock
from tests.unit.test_cost import HAND_EXAMPLE, SMALL_PRICES, write_prices

TODAY = FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    # The small file, with the stack's default model priced at $2 and $10 per million.
    models = [*SMALL_PRICES["models"], {**SMALL_PRICES["models"][0], "family": "claude-sonnet-4"}]
    return write_prices(tmp_path / "prices.yaml", {**SMALL_PRICES, "models": models})


def run(settings: Settings, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), settings=settings, clock=TODAY, stdout=out)
    return status, out.getvalue()


def line_of(output: str, start: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(start)]
    return line


def cells(output: str, service: str, item: str) -> list[str]:
    """The cells of the report's line for ``item`` of ``service`` (columns are 2+ spaces)."""
    [line] = [
        line
        for line in output.splitlines()
        if line.startswith(service + " ") and f"  {item}" in line
    ]
    return re.split(r"\s{2,}", line.strip())


def hand_example_flags() -> list[str]:
    flags = ["--model", "vendor.tiny-model-v1"]
    for name, value in HAND_EXAMPLE.items():
        if name == "conversations":
            flags += ["--conversations", str(value)]
        elif name == "conversations_per_month":
            flags += ["--per-month", str(value)]
        else:
            flags += ["--assume", f"{name}={value}"]
    return flags


def test_report_prints_the_hand_worked_example_lines_total_lever_and_crossover(
    settings: Settings, prices: Path
) -> None:
    # Only the model's tokens per turn differ from test_cost's example: the defaults, 3,000
    # in and 400 out. Tokens: 1,000 turns x (3,000 x $2 + 400 x $10) / 1M = $10.00; 400
    # tokens are 1,600 characters, 40 deltas: 1,000 x 43 + 200 = 43,200 messages, $0.0432.
    status, output = run(settings, "--prices", str(prices), *hand_example_flags())

    assert status == 0
    assert "Cost of 100 conversations of 10 turns, at 200 conversations a month" in output
    assert cells(output, "API Gateway", "WebSocket messages") == [
        "API Gateway",
        "WebSocket messages",
        "43,200",
        "messages",
        "1.00 per 1M",
        "0.0432",
    ]
    assert cells(output, "Bedrock", "vendor.tiny-model-v1 input")[2:] == [
        "3,000,000",
        "tokens",
        "2.00 per 1M",
        "6.0000",
    ]
    assert cells(output, "Test Search", "OCU-hours")[2:] == ["360", "OCU-hours", "0.25", "90.00"]
    # The embedding model is the settings' Titan, which the small file does not price.
    assert (
        cells(output, "Bedrock", "amazon.titan-embed-text-v2:0 tokens (unpriced)")[-1] == "0.0000"
    )
    # 94.88464 - 4.00 + 10.00 (tokens) + 0.02 (messages) - 0.01 (embeddings) = 100.89464
    assert line_of(output, "total").split()[-1] == "100.89"
    assert "Biggest lever: Test Search OCU-hours (the minimum), 90.00 (89% of 100.89)" in output
    # $10.00 / 100 = $0.10 a conversation against $180 a month: 1,800 a month.
    assert "Crossover: at 1,800 conversations a month" in output
    assert "(0.1000 a conversation)" in output and "(180.00 a month)" in output


def test_report_prints_every_assumption_with_its_name(settings: Settings, prices: Path) -> None:
    status, output = run(settings, "--prices", str(prices))

    assert status == 0
    listed = [line for line in output.splitlines() if line.endswith("]") and "  [" in line]
    assert [line.rsplit("[", 1)[1][:-1] for line in listed] == assumption_names()
    assert f"tokens per turn, {SONNET}: 3,000 in, 400 out" in output
    assert "all stated here; --days N measures" in output
    assert "Prices: " + str(prices) + " (as of 2026-01-31); vector store: Test Search" in output


def test_the_volume_table_moves_the_lever_from_the_idle_store_to_the_tokens(
    settings: Settings, prices: Path
) -> None:
    status, output = run(settings, "--prices", str(prices))

    # Per conversation: 10 turns x (3,000 x $2 + 400 x $10) / 1M = $0.10 of tokens.
    assert status == 0
    assert "Test Search OCU-hours" in line_of(output, "    100 ")
    assert line_of(output, "  1,800 ").split()[2] == "100.00"  # the crossover row
    assert "Bedrock model tokens" in line_of(output, "100,000 ")


def test_days_measures_messages_tokens_by_model_latency_and_traffic(
    settings: Settings, prices: Path
) -> None:
    settings.state_dir.mkdir(parents=True)
    tables = SQLiteTables(settings.sqlite_path, clock=TODAY)
    seed_queries(tables)
    tables.close()

    status, output = run(settings, "--prices", str(prices), "--days", "3")

    assert status == 0
    assert "measured from analytics 2026-11-22 to 2026-11-24" in output
    # 4 questions from 2 sessions: 2 turns each; 2 sessions in 3 days (72 hours) is, in the
    # small file's 720-hour month, 2 x 720 / 72 = 20 a month.
    assert "* turns (question and answer) per conversation: 2  [" in output
    assert "* conversations a month (spreads the always-on costs): 20  [" in output
    assert "* engine seconds per answer (its latency): 0.40  [" in output
    assert "* share of turns answered with tools (MCP server): 0.25  [" in output
    # Per turn, over all 4 turns: Sonnet 3,000 / 4 in and 600 / 4 out; offline 400 / 4, 40 / 4.
    assert f"* tokens per turn, {SONNET}: 750 in, 150 out" in output
    assert "* tokens per turn, offline: 100 in, 10 out" in output
    # Priced: 1,000 conversations x 2 turns x 750 = 1,500,000 tokens at $2/M.
    sonnet_in = cells(output, "Bedrock", f"{SONNET} input tokens")
    assert (sonnet_in[2], sonnet_in[-1]) == ("1,500,000", "3.0000")
    offline = cells(output, "Bedrock", "offline output tokens (unpriced)")
    assert (offline[2], offline[-1]) == ("20,000", "0.0000")


def test_days_with_model_prices_the_recorded_tokens_as_that_model(
    settings: Settings, prices: Path
) -> None:
    settings.state_dir.mkdir(parents=True)
    tables = SQLiteTables(settings.sqlite_path, clock=TODAY)
    seed_queries(tables)
    tables.close()

    status, output = run(
        settings, "--prices", str(prices), "--days", "3", "--model", "vendor.tiny-model-v1"
    )

    assert status == 0
    assert "* tokens per turn, vendor.tiny-model-v1: 850 in, 160 out" in output
    assert "offline" not in output


def test_days_without_questions_says_every_figure_is_assumed(
    settings: Settings, prices: Path
) -> None:
    settings.state_dir.mkdir(parents=True)
    SQLiteTables(settings.sqlite_path, clock=TODAY).close()

    status, output = run(settings, "--prices", str(prices), "--days", "7")

    assert status == 0
    assert "no questions recorded 2026-11-18 to 2026-11-24" in output
    assert "* " not in output


def test_days_without_a_local_store_is_reported_not_created(
    settings: Settings, prices: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = run(settings, "--prices", str(prices), "--days", "7")

    assert status == 2
    assert "no local store" in capsys.readouterr().err
    assert not settings.sqlite_path.exists()


def test_a_misspelt_assumption_is_a_usage_error(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = run(settings, "--assume", "turns=3")

    assert status == 2
    assert "no assumption 'turns'" in capsys.readouterr().err


def test_chatbot_cost_is_a_subcommand_of_chatbot(
    prices: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["cost", "--prices", str(prices), "--model", SONNET])

    assert status == 0
    assert "Crossover: at 1,800 conversations a month" in capsys.readouterr().out


def seed_queries(tables: SQLiteTables) -> None:
    """Two sessions' four questions in the last three days, and events the command ignores:
    one outside the range and one that is not a question."""
    clock = FakeClock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    recorder = AnalyticsRecorder(
        tables.table(ANALYTICS), retention=timedelta(days=36500), clock=clock
    )
    for latency, tokens_in, tokens_out in ((100, 1000, 100), (300, 500, 200), (200, 1500, 300)):
        clock.advance(minutes=1)
        recorder.record(
            "query",
            "s1",
            {
                "queryType": "rag",
                "latencyMs": latency,
                "inputTokens": tokens_in,
                "outputTokens": tokens_out,
                "model": SONNET,
            },
        )
    recorder.record("session_created", "s2", {})
    clock.moment = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    recorder.record(
        "query",
        "s2",
        {
            "queryType": "mcp_tool",
            "latencyMs": 1000,
            "inputTokens": 400,
            "outputTokens": 40,
            "model": "offline",
        },
    )
    clock.moment = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    recorder.record("query", "s3", {"queryType": "rag", "latencyMs": 5, "inputTokens": 9})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--conversations", "0"], "conversations must be more than 0, not 0"),
        (["--assume", "chars_per_delta=0"], "chars_per_delta must be more than 0"),
        (["--assume", "turns_per_conversation=-1"], "turns_per_conversation must be 0 or more"),
    ],
)
def test_impossible_figures_are_usage_errors(
    settings: Settings, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, output = run(settings, *argv)

    assert (status, output) == (2, "")
    assert message in capsys.readouterr().err
