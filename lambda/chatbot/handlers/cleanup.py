"""Lambda entry point of the scheduled session cleanup (EventBridge); the local gateway's timer
runs the same ``run_cleanup``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from chatbot.config import load_settings
from chatbot.ports import ConnectionSender
from chatbot.records import PARTITION_SHARDS
from chatbot.redaction import RedactingFormatter
from chatbot.sessions import CleanupReport, SessionManager, TimeLeft

logger = Logger(service="chatbot", logger_formatter=RedactingFormatter())

# Time kept back from the function's timeout: the session being closed when the budget runs
# out (one conditional update, a connections query, a DELETE per connection, an analytics
# put) must finish well inside it, and so must the log line and the return.
SAFETY_MARGIN_SECONDS = 20.0
PAGE_SIZE = 100
# The Lambda reads every shard of the ``byActivity`` index at once (DynamoDB round trips
# overlap); the local gateway reads one SQLite file, where threads would only queue.
LAMBDA_SHARD_READERS = PARTITION_SHARDS


def run_cleanup(
    sessions: SessionManager, sender: ConnectionSender, time_left: TimeLeft, *, readers: int = 1
) -> CleanupReport:
    report = sessions.cleanup_inactive_sessions(
        sender, page_size=PAGE_SIZE, time_left=time_left, readers=readers
    )
    if report.stopped_early:
        # Not an error: the next scheduled run carries on from the oldest session left.
        logger.warning("session cleanup stopped for time", extra=report.to_dict())
    elif report.closed or report.skipped:
        logger.info("session cleanup finished", extra=report.to_dict())
    else:
        # The local gateway runs this every minute; an empty run is not news.
        logger.debug("session cleanup found nothing to close", extra=report.to_dict())
    return report


def lambda_time_left(
    context: LambdaContext, margin_seconds: float = SAFETY_MARGIN_SECONDS
) -> TimeLeft:
    """Seconds this invocation may still spend, keeping ``margin_seconds`` before its timeout."""
    return lambda: context.get_remaining_time_in_millis() / 1000 - margin_seconds


def handle_event(
    sessions: SessionManager, sender: ConnectionSender, context: LambdaContext
) -> dict[str, Any]:
    report = run_cleanup(sessions, sender, lambda_time_left(context), readers=LAMBDA_SHARD_READERS)
    return dict(report.to_dict())


@lru_cache(maxsize=1)
def _aws_collaborators() -> tuple[SessionManager, ConnectionSender]:
    from chatbot.adapters.aws.connections import ApiGatewayConnectionSender
    from chatbot.runtime import runtime_from_settings

    settings = load_settings()
    if not settings.websocket_api_endpoint:
        raise ValueError("WEBSOCKET_API_ENDPOINT must be set in AWS")
    runtime = runtime_from_settings(settings)
    return runtime.sessions, ApiGatewayConnectionSender(settings.websocket_api_endpoint)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sessions, sender = _aws_collaborators()
    return handle_event(sessions, sender, context)
