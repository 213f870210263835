"""Conversation storage: user messages and answers, idempotent by messageId, read back in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from aws_lambda_powertools import Logger

from chatbot.clock import Clock
from chatbot.errors import InvalidMessageError
from chatbot.records import ConversationRecord, MessageStatus, iso
from chatbot.server_frames import bounded_answer
from chatbot.tables import (
    CONVERSATIONS,
    All,
    AnyOf,
    Compare,
    Condition,
    ConditionFailedError,
    Exists,
    NotExists,
    SortKeyCondition,
    Table,
)

logger = Logger(service="chatbot", child=True)

Role = Literal["user", "assistant"]
OrderKey = tuple[str, str, int]


@dataclass(frozen=True)
class AnswerLease:
    """How long a claim on answering a message holds without word from its engine.

    The claim made when a message is accepted (or resent) holds for ``seconds``, long enough
    for the engine to start; the engine then holds it under its own id, renewing it every
    ``renew_every`` seconds while it works. A claim that lapsed has nobody working on it: a
    resend takes it over. ``legacy_stall`` judges messages stored before claims had a lease.
    """

    seconds: float = 15.0
    renew_every: float = 5.0
    legacy_stall: timedelta = timedelta(minutes=6)

    def __post_init__(self) -> None:
        if not 0 < self.renew_every < self.seconds:
            raise ValueError("the lease must be renewed more often than it lapses")


def order_key(record: ConversationRecord) -> OrderKey:
    """A session's records in one total order: by time, then a question before its answer
    (they may share a timestamp), then by messageId (records of a frozen test clock)."""
    return (record.timestamp, record.messageId, 0 if record.messageType == "user" else 1)


class ConversationStore:
    def __init__(
        self,
        table: Table,
        retention: timedelta,
        *,
        clock: Clock,
        lease: AnswerLease | None = None,
    ) -> None:
        self._table = table
        self._retention = retention
        self._clock = clock
        self._lease = lease or AnswerLease()

    @property
    def lease(self) -> AnswerLease:
        return self._lease

    def _lease_end(self, now: datetime) -> str:
        return iso(now + timedelta(seconds=self._lease.seconds))

    def lease_lapsed(self, user_message: ConversationRecord) -> bool:
        """Whether nobody holds the claim on answering ``user_message`` (as read)."""
        now = self._clock.now()
        if user_message.leaseUntil is not None:
            return user_message.leaseUntil <= iso(now)
        seen = user_message.attemptedAt or user_message.timestamp
        return seen <= iso(now - self._lease.legacy_stall)

    def _ttl(self, now: datetime) -> int:
        return int((now + self._retention).timestamp())

    def get(self, session_id: str, message_id: str, role: Role) -> ConversationRecord | None:
        item = self._table.get(
            {"sessionId": session_id, "recordId": ConversationRecord.record_id(message_id, role)}
        )
        return ConversationRecord.from_item(item) if item else None

    def add_user_message(
        self, session_id: str, message_id: str, content: str
    ) -> tuple[ConversationRecord, bool]:
        """Store a user message unless one with this messageId exists.

        Returns the stored record and whether this call created it.
        """
        now = self._clock.now()
        record = ConversationRecord(
            sessionId=session_id,
            recordId=ConversationRecord.record_id(message_id, "user"),
            messageId=message_id,
            timestamp=iso(now),
            messageType="user",
            content=content,
            status="pending",
            attemptedAt=iso(now),
            leaseUntil=self._lease_end(now),
            ttl=self._ttl(now),
        )
        try:
            self._table.put(record.to_item(), condition=NotExists(CONVERSATIONS.partition_key))
        except ConditionFailedError:
            existing = self.get(session_id, message_id, "user")
            if existing is None:  # expired between the write and the read: store it afresh
                return self.add_user_message(session_id, message_id, content)
            return existing, False
        return record, True

    def set_status(
        self,
        session_id: str,
        message_id: str,
        status: MessageStatus,
        *,
        holder: str | None = None,
    ) -> bool:
        """Move an existing user message to ``status``; False if there is no such message or,
        with ``holder``, if that engine no longer holds the claim on answering it."""
        condition: Condition = Exists(CONVERSATIONS.partition_key)
        if holder is not None:
            condition = All((condition, Compare("leaseHolder", "=", holder)))
        try:
            self._table.update(
                self._user_key(session_id, message_id),
                set_values={"status": status},
                condition=condition,
            )
        except ConditionFailedError:
            return False
        return True

    def claim_retry(self, user_message: ConversationRecord) -> bool:
        """Start a new attempt at answering, if the last one failed or its lease lapsed.

        Conditional on the record as the caller read it (its status and lease), so of two
        resends only one wins, and a lease renewed since the read is not taken over."""
        if user_message.status == "answered":
            return False
        if user_message.status == "pending" and not self.lease_lapsed(user_message):
            return False  # an engine is still on it (or about to start)
        now = self._clock.now()
        seen = user_message.attemptedAt or user_message.timestamp
        lease_as_read: Condition = (
            Compare("leaseUntil", "=", user_message.leaseUntil)
            if user_message.leaseUntil is not None
            else All(
                (
                    NotExists("leaseUntil"),
                    AnyOf((NotExists("attemptedAt"), Compare("attemptedAt", "=", seen))),
                )
            )
        )
        try:
            self._table.update(
                self._user_key(user_message.sessionId, user_message.messageId),
                set_values={
                    "status": "pending",
                    "attemptedAt": iso(now),
                    "leaseUntil": self._lease_end(now),
                },
                # A cancel of an earlier attempt does not stop the user's retry.
                remove=("leaseHolder", "cancelRequested"),
                condition=All(
                    (Compare("status", "=", user_message.status or "pending"), lease_as_read)
                ),
            )
        except ConditionFailedError:
            return False
        return True

    def take_lease(self, session_id: str, message_id: str, holder: str) -> bool:
        """The engine ``holder`` starts answering: it holds the claim if the message is
        pending and no other engine holds a live lease on it (a redelivered invocation of
        an answer in progress does not)."""
        now = self._clock.now()
        try:
            self._table.update(
                self._user_key(session_id, message_id),
                set_values={"leaseHolder": holder, "leaseUntil": self._lease_end(now)},
                condition=All(
                    (
                        Compare("status", "=", "pending"),
                        AnyOf(
                            (
                                NotExists("leaseHolder"),
                                NotExists("leaseUntil"),
                                Compare("leaseUntil", "<=", iso(now)),
                            )
                        ),
                    )
                ),
            )
        except ConditionFailedError:
            return False
        return True

    def renew_lease(self, session_id: str, message_id: str, holder: str) -> bool:
        """Extend ``holder``'s claim; False if another attempt has taken it over."""
        try:
            self._table.update(
                self._user_key(session_id, message_id),
                set_values={"leaseUntil": self._lease_end(self._clock.now())},
                condition=All(
                    (Compare("status", "=", "pending"), Compare("leaseHolder", "=", holder))
                ),
            )
        except ConditionFailedError:
            return False
        return True

    def request_cancel(self, session_id: str, message_id: str) -> bool:
        """Ask the engine answering ``message_id`` to stop (``cancel``): True if the question
        was still being answered, False if it was already answered or failed (no effect).
        InvalidMessageError if the session has no such question."""
        try:
            self._table.update(
                self._user_key(session_id, message_id),
                set_values={"cancelRequested": True},
                condition=All(
                    (Exists(CONVERSATIONS.partition_key), Compare("status", "=", "pending"))
                ),
            )
        except ConditionFailedError:
            if self.get(session_id, message_id, "user") is None:
                raise InvalidMessageError(
                    f"cancel for unknown {message_id}",
                    public_message="Cancel must name a message of this session.",
                ) from None
            return False
        return True

    def cancel_requested(self, session_id: str, message_id: str) -> bool:
        """Whether the user asked to stop the answer to ``message_id`` (read by the engine)."""
        question = self.get(session_id, message_id, "user")
        return bool(question is not None and question.cancelRequested)

    @staticmethod
    def _user_key(session_id: str, message_id: str) -> dict[str, str]:
        return {
            "sessionId": session_id,
            "recordId": ConversationRecord.record_id(message_id, "user"),
        }

    def save_answer(self, answer: ConversationRecord) -> ConversationRecord:
        """Store an answer once; a second save of the same messageId returns the first.

        The answer is bounded to fit one ``message`` frame (server_frames.bounded_answer), and
        never sorts before its question (another engine's clock may lag this one's)."""
        bounded = bounded_answer(answer)
        if bounded is not answer:
            logger.warning("answer cut to fit a frame", extra={"messageId": answer.messageId})
        question = self.get(answer.sessionId, answer.messageId, "user")
        if question is not None and bounded.timestamp < question.timestamp:
            bounded = bounded.model_copy(update={"timestamp": question.timestamp})
        item = bounded.to_item()
        item.setdefault("ttl", self._ttl(self._clock.now()))
        try:
            self._table.put(item, condition=NotExists(CONVERSATIONS.partition_key))
        except ConditionFailedError:
            existing = self.get(answer.sessionId, answer.messageId, "assistant")
            if existing is not None:
                return existing
            raise
        return ConversationRecord.from_item(item)

    def history(
        self, session_id: str, *, limit: int, before: str | None = None
    ) -> list[ConversationRecord]:
        """The last ``limit`` records (user messages and answers), oldest first (``order_key``).

        ``before`` names a messageId: only records older than that user message are returned
        (than its answer, if the question is gone), so paging by the first messageId of a
        page that starts with a question neither skips nor repeats a record.
        """
        anchor = None
        if before is not None:
            record = self.get(session_id, before, "user") or self.get(
                session_id, before, "assistant"
            )
            if record is None:
                raise InvalidMessageError(
                    "unknown before",
                    public_message="'before' does not name a message of this session.",
                )
            anchor = order_key(record)
        return self._newest(session_id, limit, anchor)

    def _newest(
        self, session_id: str, count: int, anchor: OrderKey | None
    ) -> list[ConversationRecord]:
        """The ``count`` newest records ordered before ``anchor``, oldest first.

        The index orders by timestamp alone, and records that share one come back in no
        order we rely on: reading goes on until the timestamp at the page's oldest end has
        been read in full, then ``order_key`` decides."""
        sort = None if anchor is None else SortKeyCondition("<=", anchor[0])
        found: list[ConversationRecord] = []
        cursor: str | None = None
        while True:
            page = self._table.query(
                session_id,
                index="byTime",
                sort=sort,
                ascending=False,
                limit=count + 1,
                cursor=cursor,
            )
            last_read: str | None = None
            for item in page.items:
                record = ConversationRecord.from_item(item)
                last_read = record.timestamp
                if anchor is None or order_key(record) < anchor:
                    found.append(record)
            cursor = page.cursor
            if cursor is None:
                break
            if len(found) >= count and last_read is not None:
                found.sort(key=order_key, reverse=True)
                if last_read < found[count - 1].timestamp:
                    break
        found.sort(key=order_key, reverse=True)
        return list(reversed(found[:count]))

    def add_feedback(
        self, session_id: str, message_id: str, rating: str, comment: str | None
    ) -> None:
        feedback: dict[str, str] = {"rating": rating, "at": iso(self._clock.now())}
        if comment:
            feedback["comment"] = comment
        try:
            self._table.update(
                {
                    "sessionId": session_id,
                    "recordId": ConversationRecord.record_id(message_id, "assistant"),
                },
                set_values={"feedback": feedback},
                condition=Exists(CONVERSATIONS.partition_key),
            )
        except ConditionFailedError:
            raise InvalidMessageError(
                f"feedback for unanswered {message_id}",
                public_message="Feedback must name a message that has been answered.",
            ) from None
