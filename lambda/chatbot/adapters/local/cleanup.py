"""The local gateway's periodic cleanup: the Lambda's, plus what DynamoDB's TTL does in AWS."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger

from chatbot.adapters.local.tables import SQLiteTable
from chatbot.handlers.cleanup import run_cleanup
from chatbot.ports import ConnectionSender
from chatbot.runtime import Runtime
from chatbot.sessions import CleanupReport, time_budget

logger = Logger(service="chatbot", child=True)

# Most of a worker thread one cleanup tick may hold; the rest waits for the next tick.
LOCAL_CLEANUP_BUDGET_SECONDS = 10.0
# Expired rows are invisible at once but stay in the SQLite file until purged.
LOCAL_PURGE_INTERVAL_SECONDS = 3600.0


def local_cleanup(runtime: Runtime) -> Callable[[ConnectionSender], CleanupReport]:
    """The Lambda's cleanup code, with a time budget in place of the Lambda's remaining time;
    then, hourly, what DynamoDB's TTL does in AWS: delete expired rows from the SQLite file."""
    clock = runtime.clock
    last_purge = [float("-inf")]

    def cleanup(sender: ConnectionSender) -> CleanupReport:
        # One reader: the index's shards are in one SQLite file, behind one lock.
        report = run_cleanup(
            runtime.sessions, sender, time_budget(LOCAL_CLEANUP_BUDGET_SECONDS, clock), readers=1
        )
        if clock.monotonic() - last_purge[0] >= LOCAL_PURGE_INTERVAL_SECONDS:
            last_purge[0] = clock.monotonic()
            tables = runtime.tables
            stores = (tables.sessions, tables.connections, tables.conversations, tables.analytics)
            purged = sum(t.purge_expired() for t in stores if isinstance(t, SQLiteTable))
            if purged:
                logger.info("expired rows deleted from the local store", extra={"count": purged})
        return report

    return cleanup
