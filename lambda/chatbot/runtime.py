"""Wiring: builds the domain objects on the adapters configuration chooses, once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from chatbot.adapters.store import table_store
from chatbot.analytics import AnalyticsRecorder
from chatbot.chat_service import ChatService
from chatbot.clock import Clock, SystemClock
from chatbot.config import Environment, Settings
from chatbot.conversations import AnswerLease, ConversationStore
from chatbot.engine.budget import BudgetPolicy, TokenBudget
from chatbot.limits import LimitsPolicy, RequestLimits
from chatbot.ports import ConnectionSender, EngineInvoker
from chatbot.sessions import SessionManager, SessionPolicy
from chatbot.tables import Tables
from chatbot.tokens import SessionTokens, load_or_create_local_secret


@dataclass(frozen=True)
class Runtime:
    """The domain objects every entry point shares, bound to one set of tables."""

    settings: Settings
    clock: Clock
    tables: Tables
    analytics: AnalyticsRecorder
    sessions: SessionManager
    conversations: ConversationStore
    load_secret: Callable[[], bytes]
    # The abuse and spend ceilings (per source IP, Origin, refused frames; token budgets).
    limits: RequestLimits
    budget: TokenBudget

    @cached_property
    def tokens(self) -> SessionTokens:
        # Loaded on first use: only the websocket handler issues and checks tokens, so the
        # other functions need neither the secret nor the permission to read it.
        return SessionTokens(self.load_secret())


def build_runtime(
    settings: Settings, tables: Tables, load_secret: Callable[[], bytes], clock: Clock
) -> Runtime:
    """The domain objects on ``tables``, every one reading the time from ``clock``."""
    retention = timedelta(days=settings.session_retention_days)
    analytics = AnalyticsRecorder(
        tables.analytics,
        retention=timedelta(days=settings.analytics_retention_days),
        clock=clock,
    )
    sessions = SessionManager(
        tables.sessions,
        tables.connections,
        analytics,
        SessionPolicy(
            timeout=timedelta(minutes=settings.session_timeout_minutes),
            retention=retention,
            rate_limit_per_minute=settings.rate_limit_per_minute,
        ),
        clock=clock,
    )
    return Runtime(
        settings=settings,
        clock=clock,
        tables=tables,
        analytics=analytics,
        sessions=sessions,
        conversations=ConversationStore(
            tables.conversations,
            retention=retention,
            clock=clock,
            lease=AnswerLease(
                seconds=settings.answer_lease_seconds,
                renew_every=settings.answer_lease_renew_seconds,
                legacy_stall=timedelta(seconds=settings.answer_timeout_seconds),
            ),
        ),
        load_secret=load_secret,
        limits=RequestLimits(
            tables.limits,
            tables.analytics,
            LimitsPolicy(
                sessions_per_ip_per_minute=settings.sessions_per_ip_per_minute,
                messages_per_ip_per_minute=settings.messages_per_ip_per_minute,
                allowed_origins=LimitsPolicy.parse_origins(settings.allowed_origins),
            ),
            analytics_retention=timedelta(days=settings.analytics_retention_days),
            clock=clock,
        ),
        budget=TokenBudget(
            tables.limits,
            BudgetPolicy(
                session_tokens_per_day=settings.session_tokens_per_day,
                deployment_tokens_per_day=settings.deployment_tokens_per_day,
            ),
            clock=clock,
        ),
    )


def build_chat_service(
    runtime: Runtime, sender: ConnectionSender, invoker: EngineInvoker
) -> ChatService:
    return ChatService(
        sessions=runtime.sessions,
        conversations=runtime.conversations,
        analytics=runtime.analytics,
        tokens=runtime.tokens,
        sender=sender,
        invoker=invoker,
        max_frame_bytes=runtime.settings.max_frame_bytes,
        clock=runtime.clock,
        log_user_content=runtime.settings.log_user_content,
        limits=runtime.limits,
    )


def runtime_from_settings(
    settings: Settings, clock: Clock | None = None, *, checkpoints: bool = True
) -> Runtime:
    """The runtime on the adapters CHATBOT_ENV selects: DynamoDB in AWS, SQLite locally.

    ``clock`` is the process's one clock (the system's unless a caller brings its own);
    ``checkpoints``, whether this process's SQLite commits checkpoint the WAL."""
    clock = clock or SystemClock()
    tables = table_store(settings, clock, checkpoints=checkpoints).tables()
    if settings.chatbot_env is Environment.AWS:
        return build_runtime(settings, tables, lambda: aws_session_secret(settings), clock)
    return build_runtime(
        settings, tables, lambda: load_or_create_local_secret(settings.secret_path), clock
    )


def aws_session_secret(settings: Settings) -> bytes:
    if not settings.session_secret_arn:
        raise ValueError("SESSION_SECRET_ARN must name the session-token secret in AWS")
    from aws_lambda_powertools.utilities import parameters

    # Cached for five minutes per container: one Secrets Manager call per cold start or so.
    secret = parameters.get_secret(settings.session_secret_arn, max_age=300)
    return secret.encode() if isinstance(secret, str) else bytes(secret)
