"""Session lifecycle: create, resume, touch, rate-limit, bind connections, close idle sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from chatbot.analytics import AnalyticsRecorder
from chatbot.clock import Clock
from chatbot.errors import RateLimitedError, SessionNotFoundError
from chatbot.ports import ConnectionGoneError, ConnectionSender
from chatbot.records import (
    SESSION_TITLE_CHARS,
    Connection,
    Session,
    activity_partition,
    activity_partitions,
    iso,
)
from chatbot.tables import (
    SESSIONS,
    All,
    AnyOf,
    Compare,
    ConditionFailedError,
    Exists,
    NotExists,
    ShardedQuery,
    SortKeyCondition,
    Table,
)

logger = Logger(service="chatbot", child=True)

# API Gateway drops a connection after two hours whatever happens; keep its binding a bit longer.
CONNECTION_TTL = timedelta(hours=3)

# ``listSessions``: at most this many sessions, read in at most this many index pages (a
# user's closed sessions are skipped until their TTL removes them).
USER_SESSIONS_LISTED = 50
USER_SESSION_PAGES = 4


# Seconds a cleanup run may still use; it stops, to resume next run, when this reaches 0.
TimeLeft = Callable[[], float]


def time_budget(seconds: float, clock: Clock) -> TimeLeft:
    """A ``TimeLeft`` that runs out ``seconds`` from now (the local runs' stand-in for Lambda's)."""
    end = clock.monotonic() + seconds
    return lambda: end - clock.monotonic()


@dataclass
class CleanupReport:
    """What one cleanup run did."""

    closed: int = 0
    # Found idle in the index but active again (or closed by another run) when closing.
    skipped: int = 0
    # Connections closed through the sender (or, with no sender, bindings removed).
    connections_closed: int = 0
    # Connections the sender found already gone; their bindings are removed all the same.
    connections_gone: int = 0
    pages: int = 0
    # True when the run stopped for time: the sessions it did not reach wait for the next run.
    stopped_early: bool = False

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


@dataclass(frozen=True)
class SessionPolicy:
    timeout: timedelta
    retention: timedelta
    rate_limit_per_minute: int


class SessionManager:
    """Sessions and the connections bound to them, in the sessions and connections tables."""

    def __init__(
        self,
        sessions: Table,
        connections: Table,
        analytics: AnalyticsRecorder,
        policy: SessionPolicy,
        *,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._connections = connections
        self._analytics = analytics
        self._policy = policy
        self._clock = clock

    def _expiry(self, moment: datetime) -> int:
        # A safety net: an active session outlives its timeout by the retention period even
        # if cleanup never ran. Cleanup resets it when it closes the session.
        return int((moment + self._policy.timeout + self._policy.retention).timestamp())

    def create_session(
        self, *, user_agent: str | None = None, user_sub: str | None = None
    ) -> Session:
        """A new active session, owned by ``user_sub`` (the signed-in user) if given."""
        now = self._clock.now()
        session_id = str(uuid.uuid4())
        session = Session(
            sessionId=session_id,
            createdAt=iso(now),
            lastActivity=iso(now),
            activityStatus=activity_partition(session_id),
            userAgent=user_agent[:256] if user_agent else None,
            userSub=user_sub,
            ttl=self._expiry(now),
        )
        self._sessions.put(session.to_item(), condition=NotExists(SESSIONS.partition_key))
        self._analytics.record("session_created", session.sessionId, {})
        return session

    def get_session(self, session_id: str) -> Session | None:
        item = self._sessions.get({"sessionId": session_id})
        return Session.from_item(item) if item else None

    def get_active_session(self, session_id: str) -> Session:
        session = self.get_session(session_id)
        if session is None or not session.isActive:
            raise SessionNotFoundError(session_id)
        return session

    def update_activity(self, session_id: str) -> Session:
        now = self._clock.now()
        try:
            item = self._sessions.update(
                {"sessionId": session_id},
                set_values={"lastActivity": iso(now), "ttl": self._expiry(now)},
                condition=Compare("isActive", "=", True),
            )
        except ConditionFailedError:
            raise SessionNotFoundError(session_id) from None
        return Session.from_item(item)

    def set_title(self, session_id: str, question: str) -> None:
        """Title the session by its first question (cut to SESSION_TITLE_CHARS) unless it
        has a title already: what ``listSessions`` shows, without reading conversations."""
        with suppress(ConditionFailedError):
            self._sessions.update(
                {"sessionId": session_id},
                set_values={"title": question[:SESSION_TITLE_CHARS]},
                condition=All((Exists(SESSIONS.partition_key), NotExists("title"))),
            )

    def sessions_of(self, user_sub: str, *, limit: int = USER_SESSIONS_LISTED) -> list[Session]:
        """The signed-in user's sessions that can still be resumed, newest activity first
        (the sparse ``byUser`` index: sessions opened without sign-in are not in it)."""
        found: list[Session] = []
        cursor: str | None = None
        for _ in range(USER_SESSION_PAGES):
            page = self._sessions.query(
                user_sub, index="byUser", ascending=False, limit=limit, cursor=cursor
            )
            found.extend(
                session
                for session in map(Session.from_item, page.items)
                if session.isActive and session.userSub == user_sub
            )
            cursor = page.cursor
            if cursor is None or len(found) >= limit:
                break
        return found[:limit]

    def admit_message(self, session_id: str) -> None:
        """Count one message against the session's per-minute limit and mark it active.

        One conditional write in the common case; RateLimitedError past the limit.
        """
        now = self._clock.now()
        window = int(now.timestamp() // 60)
        key = {"sessionId": session_id}
        touch = {"lastActivity": iso(now), "ttl": self._expiry(now)}
        active = Compare("isActive", "=", True)
        try:
            self._sessions.update(
                key,
                set_values=touch,
                increment={"rateCount": 1},
                condition=All(
                    (
                        active,
                        Compare("rateWindow", "=", window),
                        Compare("rateCount", "<", self._policy.rate_limit_per_minute),
                    )
                ),
            )
            return
        except ConditionFailedError:
            pass
        try:
            self._sessions.update(
                key,
                set_values={**touch, "rateWindow": window, "rateCount": 1},
                condition=All(
                    (active, AnyOf((NotExists("rateWindow"), Compare("rateWindow", "<", window))))
                ),
            )
        except ConditionFailedError:
            self.get_active_session(session_id)
            raise RateLimitedError(f"session {session_id} over its limit") from None

    # --- connections ---------------------------------------------------------------

    def bind_connection(self, connection_id: str, session_id: str, *, resumed: bool) -> None:
        now = self._clock.now()
        connection = Connection(
            connectionId=connection_id,
            sessionId=session_id,
            connectedAt=iso(now),
            resumed=resumed,
            ttl=int((now + CONNECTION_TTL).timestamp()),
        )
        self._connections.put(connection.to_item())

    def connection(self, connection_id: str) -> Connection:
        """The connection's binding; SessionNotFoundError if it has none (it never connected)."""
        item = self._connections.get({"connectionId": connection_id})
        if item is None:
            raise SessionNotFoundError()
        return Connection.from_item(item)

    def connections_of(self, session_id: str) -> list[str]:
        """The session's open connections, newest first (a reconnected client's is first)."""
        page = self._connections.query(session_id, index="bySession", ascending=False)
        return [item["connectionId"] for item in page.items]

    def unbind_connection(self, connection_id: str) -> None:
        self._connections.delete({"connectionId": connection_id})

    # --- cleanup -------------------------------------------------------------------

    def close_session(self, session: Session, reason: str) -> bool:
        """Mark the session closed unless it was active since it was read. True if it closed."""
        now = self._clock.now()
        try:
            self._sessions.update(
                {"sessionId": session.sessionId},
                set_values={
                    "isActive": False,
                    "closedAt": iso(now),
                    "closedReason": reason,
                    "ttl": int((now + self._policy.retention).timestamp()),
                },
                remove=("activityStatus",),
                condition=All(
                    (
                        Compare("isActive", "=", True),
                        Compare("lastActivity", "=", session.lastActivity),
                    )
                ),
            )
        except ConditionFailedError:
            return False
        self._analytics.record(
            "session_closed",
            session.sessionId,
            {"reason": reason, "lastActivity": session.lastActivity},
        )
        return True

    def cleanup_inactive_sessions(
        self,
        sender: ConnectionSender,
        *,
        page_size: int = 100,
        time_left: TimeLeft | None = None,
        readers: int = 1,
    ) -> CleanupReport:
        """Close sessions idle past the timeout, oldest first, and drop their connections.

        Reads the sparse ``byActivity`` index (active sessions only), never the whole table:
        every shard of it (``readers`` threads at a time, for DynamoDB), merged oldest first.
        Stops before the next session once ``time_left()`` reaches zero; what it did not
        reach is still in the index, so the next run resumes there. A closed session leaves
        the index, and closing is conditional on the session being unchanged since it was
        read, so no session is closed twice even by overlapping runs.
        """
        cutoff = iso(self._clock.now() - self._policy.timeout)
        report = CleanupReport()

        def out_of_time() -> bool:
            return time_left is not None and time_left() <= 0

        if out_of_time():
            report.stopped_early = True
            return report
        idle = ShardedQuery(
            self._sessions,
            activity_partitions(),
            index="byActivity",
            sort=SortKeyCondition("<", cutoff),
            page_size=page_size,
            readers=readers,
        )
        with idle:
            for item in idle:
                report.pages = idle.pages
                if out_of_time():
                    report.stopped_early = True
                    return report
                session = Session.from_item(item)
                if self.close_session(session, "idle"):
                    report.closed += 1
                    self._drop_connections(session.sessionId, sender, report)
                else:
                    # Active again since the index was read, or another run closed it first.
                    report.skipped += 1
            report.pages = idle.pages
        return report

    def _drop_connections(
        self, session_id: str, sender: ConnectionSender, report: CleanupReport
    ) -> None:
        page = self._connections.query(session_id, index="bySession")
        for item in page.items:
            connection_id = item["connectionId"]
            try:
                sender.delete(connection_id)
            except ConnectionGoneError:
                report.connections_gone += 1
                logger.debug("connection already gone", extra={"connectionId": connection_id})
            else:
                report.connections_closed += 1
            self._connections.delete({"connectionId": connection_id})
