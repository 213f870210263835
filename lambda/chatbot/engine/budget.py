"""Token budgets: what a session, and the whole deployment, may spend on the model a UTC day.

Checked before each question is routed, so before any model call, the router's included
(``QuotaExceededError`` once a budget is used up), and charged with the answer's tokens after
it. A budget can be passed by the answers already running
when it runs out (at most one answer each): the check bounds the spend, it does not meter it.

Counters are items of the limits table, incremented atomically and removed by TTL a day after
their day. The deployment's counter takes one write per answer from every session, so it is
split over ``DEPLOYMENT_SHARDS`` items (a message's shard from its id) that the check reads
and adds up: DynamoDB serves about 1,000 writes a second per key (ARCHITECTURE.md "Scale").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools import Logger

from chatbot.clock import Clock
from chatbot.errors import QuotaExceededError
from chatbot.records import Usage
from chatbot.tables import Table

logger = Logger(service="chatbot", child=True)

DEPLOYMENT_SHARDS = 8


@dataclass(frozen=True)
class BudgetPolicy:
    """Tokens (input + output) a day; 0 turns a budget off."""

    session_tokens_per_day: int = 50_000
    deployment_tokens_per_day: int = 2_000_000


class TokenBudget:
    def __init__(self, limits: Table, policy: BudgetPolicy, *, clock: Clock) -> None:
        self._limits = limits
        self._policy = policy
        self._clock = clock

    def check(self, session_id: str) -> None:
        """QuotaExceededError if the session's or the deployment's budget for today is used up;
        its message says when the next window opens (the next UTC midnight)."""
        day, resets = self._day()
        session_limit = self._policy.session_tokens_per_day
        if session_limit and self._used(_session_key(session_id, day)) >= session_limit:
            raise QuotaExceededError(
                f"session over {session_limit} tokens on {day}",
                public_message=(
                    f"This chat has used its {session_limit:,} tokens for today. "
                    f"Please try again after {resets}."
                ),
            )
        deployment_limit = self._policy.deployment_tokens_per_day
        if deployment_limit:
            used = sum(
                self._used(_deployment_key(day, shard)) for shard in range(DEPLOYMENT_SHARDS)
            )
            if used >= deployment_limit:
                raise QuotaExceededError(
                    f"deployment over {deployment_limit} tokens on {day}",
                    public_message=(
                        "The assistant has reached its usage limit for today. "
                        f"Please try again after {resets}."
                    ),
                )

    def charge(self, session_id: str, message_id: str, usage: Usage) -> None:
        """Add an answer's tokens to today's counters. Never raises: the answer is made."""
        tokens = usage.inputTokens + usage.outputTokens
        if tokens <= 0:
            return
        day, _ = self._day()
        # Gone a day after the day they count.
        ttl = int(self._midnight().timestamp()) + 86_400
        shard = zlib.crc32(message_id.encode()) % DEPLOYMENT_SHARDS
        try:
            if self._policy.session_tokens_per_day:
                self._add(_session_key(session_id, day), tokens, ttl)
            if self._policy.deployment_tokens_per_day:
                self._add(_deployment_key(day, shard), tokens, ttl)
        except Exception:
            logger.exception("tokens not charged", extra={"messageId": message_id})

    def _used(self, counter_id: str) -> int:
        item = self._limits.get({"counterId": counter_id})
        return int(item["count"]) if item else 0

    def _add(self, counter_id: str, tokens: int, ttl: int) -> None:
        self._limits.update(
            {"counterId": counter_id}, increment={"count": tokens}, set_values={"ttl": ttl}
        )

    def _midnight(self) -> datetime:
        """The next UTC midnight: when today's budgets end."""
        today = self._clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today + timedelta(days=1)

    def _day(self) -> tuple[str, str]:
        midnight = self._midnight()
        return (midnight - timedelta(days=1)).strftime("%Y-%m-%d"), midnight.strftime(
            "%Y-%m-%d %H:%M UTC"
        )


def _session_key(session_id: str, day: str) -> str:
    return f"tokens#session#{session_id}#{day}"


def _deployment_key(day: str, shard: int) -> str:
    return f"tokens#deployment#{day}#{shard}"
