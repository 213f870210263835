"""Session cleanup throughput over N idle sessions (each with a connection), on the SQLite
adapter and on moto's in-process DynamoDB; and the cost of one analytics write on each.

    .venv/bin/python bench/cleanup.py                       # 10,000 sessions, both backends
    .venv/bin/python bench/cleanup.py --sessions 1000 --backend sqlite
    .venv/bin/python bench/cleanup.py --output bench/results/cleanup.md

Seeds through ``SessionManager`` (as the gateway would), moves a fake clock an hour on, and
times ``run_cleanup`` (the code the Lambda and the local gateway run) with a no-op
connection sender. Nothing leaves the machine: moto runs in this process.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda"))

from chatbot.analytics import AnalyticsRecorder
from chatbot.analytics_report import percentile
from chatbot.handlers.cleanup import PAGE_SIZE, run_cleanup
from chatbot.sessions import CleanupReport, SessionManager, SessionPolicy, time_budget
from chatbot.tables import ALL_TABLES, Tables

FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Clock:
    """A clock the benchmark moves: the sessions go idle an hour later, not in real time."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def time(self) -> float:
        return self.moment.timestamp()

    def monotonic(self) -> float:
        # The cleanup's time budget runs on real time: it is what the benchmark measures.
        return time.monotonic()


class NullSender:
    """API Gateway's @connections DELETE, answered at once."""

    def __init__(self) -> None:
        self.deleted = 0

    def post(self, connection_id: str, data: str) -> None:
        return None

    def delete(self, connection_id: str) -> None:
        self.deleted += 1


@dataclass
class Result:
    backend: str
    sessions: int
    seed_seconds: float
    cleanup_seconds: float
    report: CleanupReport
    write_p50_ms: float
    write_p95_ms: float

    @property
    def per_second(self) -> float:
        return self.report.closed / self.cleanup_seconds if self.cleanup_seconds else 0.0


@contextmanager
def sqlite_tables(clock: Clock) -> Iterator[Tables]:
    from chatbot.adapters.local.tables import SQLiteTables

    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteTables(Path(folder) / "chatbot.sqlite3", clock=clock)
        try:
            yield store.tables()
        finally:
            store.close()


@contextmanager
def dynamodb_tables(clock: Clock) -> Iterator[Tables]:
    os.environ.update(FAKE_AWS_ENVIRONMENT)
    import boto3
    from moto import mock_aws

    from chatbot.adapters.aws.tables import DynamoDBTables, create_table

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        names = {spec.name: f"bench-{spec.name}" for spec in ALL_TABLES}
        for spec in ALL_TABLES:
            create_table(client, spec, names[spec.name])
        yield DynamoDBTables(client, names, clock=clock).tables()


def measure(backend: str, sessions: int, writes: int, timeout: float) -> Result:
    clock = Clock()
    opener = sqlite_tables if backend == "sqlite" else dynamodb_tables
    with opener(clock) as tables:
        analytics = AnalyticsRecorder(tables.analytics, timedelta(days=365), clock=clock)
        policy = SessionPolicy(timedelta(minutes=30), timedelta(days=30), 30)
        manager = SessionManager(
            tables.sessions, tables.connections, analytics, policy, clock=clock
        )
        started = time.perf_counter()
        for number in range(sessions):
            session = manager.create_session(user_agent="bench")
            manager.bind_connection(f"conn-{number}", session.sessionId, resumed=False)
        seeded = time.perf_counter() - started
        latencies = []
        for number in range(writes):
            begun = time.perf_counter()
            analytics.record("tool_usage", "bench", {"tool": "t", "success": True, "n": number})
            latencies.append((time.perf_counter() - begun) * 1000)
        clock.moment += timedelta(hours=1)
        sender = NullSender()
        started = time.perf_counter()
        report = run_cleanup(manager, sender, time_budget(timeout, clock))
        elapsed = time.perf_counter() - started
    return Result(
        backend,
        sessions,
        seeded,
        elapsed,
        report,
        percentile(latencies, 50) or 0.0,
        percentile(latencies, 95) or 0.0,
    )


def table(results: list[Result]) -> str:
    lines = [
        "| backend | sessions | closed | connections closed | pages | stopped early "
        "| cleanup s | sessions/s | seed s | analytics write p50 / p95 ms |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.sessions:,} | {r.report.closed:,} "
            f"| {r.report.connections_closed:,} | {r.report.pages} "
            f"| {'yes' if r.report.stopped_early else 'no'} | {r.cleanup_seconds:.1f} "
            f"| {r.per_second:,.0f} | {r.seed_seconds:.1f} "
            f"| {r.write_p50_ms:.2f} / {r.write_p95_ms:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "dynamodb", "both"), default="both")
    parser.add_argument("--writes", type=int, default=1_000, help="analytics writes timed")
    parser.add_argument(
        "--timeout", type=float, default=900, help="cleanup time budget per backend, seconds"
    )
    parser.add_argument("--output", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()
    backends = ["sqlite", "dynamodb"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        print(f"{backend}: seeding {args.sessions:,} sessions...", file=sys.stderr, flush=True)
        results.append(measure(backend, args.sessions, args.writes, args.timeout))
    text = table(results)
    print(text)
    if args.output is not None:
        import moto

        machine = (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"moto {moto.__version__}, SQLite {__import__('sqlite3').sqlite_version}"
        )
        command = shlex.join([".venv/bin/python", "bench/cleanup.py", *sys.argv[1:]])
        with args.output.open("a", encoding="utf-8") as file:
            file.write(
                f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
                f"Machine: {machine}. Page size {PAGE_SIZE}.\n\n"
                f"    {command}\n\n{text}\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
