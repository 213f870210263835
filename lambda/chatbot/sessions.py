"""Session lifecycle: create, resume, touch, rate-limit, bind connections, close idle sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from chatbot.analytics import AnalyticsRecorder
from chatbot.errors import RateLimitedError, SessionNotFoundError
from chatbot.ports import ConnectionGoneError, ConnectionSender
from chatbot.records import Connection, Session, iso, utc_now
from chatbot.tables import (
    SESSIONS,
    All,
    AnyOf,
    Compare,
    ConditionFailedError,
    NotExists,
    SortKeyCondition,
    Table,
)

logger = Logger(service="chatbot", child=True)

Clock = Callable[[], datetime]
# API Gateway drops a connection after two hours whatever happens; keep its binding a bit longer.
CONNECTION_TTL = timedelta(hours=3)


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
        clock: Clock = utc_now,
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

    def create_session(self, *, user_agent: str | None = None) -> Session:
        now = self._clock()
        session = Session(
            sessionId=str(uuid.uuid4()),
            createdAt=iso(now),
            lastActivity=iso(now),
            activityStatus="active",
            userAgent=user_agent[:256] if user_agent else None,
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
        now = self._clock()
        try:
            item = self._sessions.update(
                {"sessionId": session_id},
                set_values={"lastActivity": iso(now), "ttl": self._expiry(now)},
                condition=Compare("isActive", "=", True),
            )
        except ConditionFailedError:
            raise SessionNotFoundError(session_id) from None
        return Session.from_item(item)

    def admit_message(self, session_id: str) -> None:
        """Count one message against the session's per-minute limit and mark it active.

        One conditional write in the common case; RateLimitedError past the limit.
        """
        now = self._clock()
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
        now = self._clock()
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
        now = self._clock()
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
        self, sender: ConnectionSender | None = None, *, page_size: int = 100
    ) -> int:
        """Close every session idle past the timeout, oldest first; drop its connections.

        Reads the sparse ``byActivity`` index (active sessions only), never the whole table.
        Returns how many sessions it closed.
        """
        cutoff = iso(self._clock() - self._policy.timeout)
        closed = 0
        cursor: str | None = None
        while True:
            page = self._sessions.query(
                "active",
                index="byActivity",
                sort=SortKeyCondition("<", cutoff),
                limit=page_size,
                cursor=cursor,
            )
            for item in page.items:
                session = Session.from_item(item)
                if self.close_session(session, "idle"):
                    closed += 1
                    self._drop_connections(session.sessionId, sender)
            cursor = page.cursor
            if cursor is None:
                return closed

    def _drop_connections(self, session_id: str, sender: ConnectionSender | None) -> None:
        page = self._connections.query(session_id, index="bySession")
        for item in page.items:
            connection_id = item["connectionId"]
            if sender is not None:
                try:
                    sender.delete(connection_id)
                except ConnectionGoneError:
                    logger.debug("connection already gone", extra={"connectionId": connection_id})
            self._connections.delete({"connectionId": connection_id})
