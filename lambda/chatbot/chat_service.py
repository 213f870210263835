"""The protocol's front door: connect, disconnect and every client frame (PROTOCOL.md)."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from chatbot.analytics import AnalyticsRecorder
from chatbot.clock import Clock
from chatbot.conversations import ConversationStore
from chatbot.errors import (
    ChatbotError,
    InternalError,
    SessionMismatchError,
    UnknownActionError,
    as_chatbot_error,
)
from chatbot.history_pages import EXTRA_RECORDS, history_frame
from chatbot.limits import ConnectRequest, RequestLimits
from chatbot.ports import (
    ConnectionGoneError,
    ConnectionSender,
    EngineInvoker,
    EngineRequest,
    FrameTooLargeError,
)
from chatbot.protocol import (
    ACTIONS,
    AnyClientFrame,
    CancelFrame,
    FeedbackFrame,
    FrameError,
    GetHistoryFrame,
    GetSessionFrame,
    ListSessionsFrame,
    PingFrame,
    SendMessageFrame,
    parse_client_frame,
)
from chatbot.records import ConversationRecord, Session, iso
from chatbot.server_frames import (
    AckFrame,
    ErrorFrame,
    MessageFrame,
    PongFrame,
    ServerFrame,
    SessionFrame,
    SessionsFrame,
    SessionSummary,
)
from chatbot.sessions import SessionManager
from chatbot.tokens import SessionTokens

logger = Logger(service="chatbot", child=True)

CONNECT_OK = 200
CONNECT_UNAUTHORIZED = 401
CONNECT_FORBIDDEN = 403
CONNECT_TOO_MANY = 429


@dataclass(frozen=True)
class ConnectResult:
    status_code: int
    session_id: str | None = None


class ChatService:
    """Everything the websocket handler does, free of the event shapes that carry it."""

    def __init__(
        self,
        *,
        sessions: SessionManager,
        conversations: ConversationStore,
        analytics: AnalyticsRecorder,
        tokens: SessionTokens,
        sender: ConnectionSender,
        invoker: EngineInvoker,
        max_frame_bytes: int,
        clock: Clock,
        log_user_content: bool = False,
        limits: RequestLimits | None = None,
    ) -> None:
        self._clock = clock
        # Per-IP bounds, the Origin allow-list and refusal counters (None: none of them).
        self._limits = limits
        self._sessions = sessions
        self._conversations = conversations
        self._analytics = analytics
        self._tokens = tokens
        self._sender = sender
        self._invoker = invoker
        self._max_frame_bytes = max_frame_bytes
        # Whether logs may carry what users wrote: error details can quote a frame's values.
        self._log_user_content = log_user_content

    # --- $connect / $disconnect ----------------------------------------------------

    def connect(
        self,
        connection_id: str,
        query: Mapping[str, str],
        *,
        user_agent: str | None = None,
        request: ConnectRequest | None = None,
    ) -> ConnectResult:
        request = request or ConnectRequest()
        refused = self._limits.refuse_connect(request) if self._limits else None
        if refused is not None:
            return ConnectResult(refused)
        session_id = query.get("sessionId")
        token = query.get("sessionToken")
        if session_id is None and token is None:
            if self._limits and not self._limits.try_new_session(request.source_ip):
                return ConnectResult(CONNECT_TOO_MANY)
            session = self._sessions.create_session(
                user_agent=user_agent, user_sub=request.user_sub
            )
            self._sessions.bind_connection(connection_id, session.sessionId, resumed=False)
            return ConnectResult(CONNECT_OK, session.sessionId)
        # The token is checked before any lookup, so a guess learns nothing about sessions.
        if session_id is None or not self._tokens.verify(session_id, token):
            return ConnectResult(CONNECT_UNAUTHORIZED)
        existing = self._sessions.get_session(session_id)
        if existing is None or not existing.isActive or existing.userSub != request.user_sub:
            # Another signed-in user's session (or a session from before sign-in) is theirs.
            return ConnectResult(CONNECT_FORBIDDEN)
        self._sessions.bind_connection(connection_id, session_id, resumed=True)
        return ConnectResult(CONNECT_OK, session_id)

    def disconnect(self, connection_id: str) -> None:
        self._sessions.unbind_connection(connection_id)

    # --- frames --------------------------------------------------------------------

    def handle_frame(
        self, connection_id: str, body: str | bytes | None, *, source_ip: str | None = None
    ) -> None:
        """Answer one client frame. Never raises: every failure becomes an ``error`` frame."""
        message_id: str | None = None
        try:
            frame = parse_client_frame(body, max_bytes=self._max_frame_bytes)
            message_id = getattr(frame, "messageId", None)
            self._dispatch(connection_id, frame, source_ip)
        except FrameError as error:
            self._reply_error(connection_id, error, error.message_id)
        except ChatbotError as error:
            self._reply_error(connection_id, error, message_id)
        except Exception as error:
            if self._log_user_content:
                logger.exception("frame failed", extra={"connectionId": connection_id})
            else:
                # An exception's text (and so a traceback) can quote what the user wrote.
                logger.error(
                    "frame failed",
                    extra={
                        "connectionId": connection_id,
                        "error": type(error).__name__,
                        "at": _where(error),
                    },
                )
            self._reply_error(connection_id, as_chatbot_error(error), message_id)

    def _dispatch(
        self, connection_id: str, frame: AnyClientFrame, source_ip: str | None = None
    ) -> None:
        if isinstance(frame, PingFrame):
            self._post(connection_id, PongFrame())
            return
        binding = self._sessions.connection(connection_id)
        session = self._sessions.get_active_session(binding.sessionId)
        match frame:
            case GetSessionFrame():
                self._post(
                    connection_id,
                    SessionFrame(
                        sessionId=session.sessionId,
                        sessionToken=self._tokens.issue(session.sessionId),
                        resumed=binding.resumed,
                        createdAt=session.createdAt,
                    ),
                )
            case SendMessageFrame():
                if frame.sessionId is not None and frame.sessionId != session.sessionId:
                    raise SessionMismatchError()
                self._send_message(connection_id, session, frame, source_ip)
            case GetHistoryFrame():
                records = self._conversations.history(
                    session.sessionId, limit=frame.limit + EXTRA_RECORDS, before=frame.before
                )
                self._post(
                    connection_id, history_frame(session.sessionId, records, limit=frame.limit)
                )
            case CancelFrame():
                # Still being answered: the engine stops at its next delta and sends the
                # stopped answer as the final ``message``. Already answered (or failed): no
                # effect, and no reply (the answer was, or is being, sent already).
                self._conversations.request_cancel(session.sessionId, frame.messageId)
            case ListSessionsFrame():
                self._post(connection_id, self._sessions_frame(session))
            case FeedbackFrame():
                self._conversations.add_feedback(
                    session.sessionId, frame.messageId, frame.rating, frame.comment
                )
                self._analytics.record(
                    "feedback",
                    session.sessionId,
                    {"messageId": frame.messageId, "rating": frame.rating},
                )
                self._post(connection_id, self._ack(frame.messageId, session.sessionId))

    def _sessions_frame(self, session: Session) -> SessionsFrame:
        """The signed-in user's sessions; without sign-in the action does not exist."""
        if session.userSub is None:
            raise UnknownActionError(
                "listSessions without sign-in",
                public_message=(
                    "Unknown action: listSessions needs sign-in. Supported actions: "
                    + ", ".join(a for a in ACTIONS if a != "listSessions")
                    + "."
                ),
            )
        return SessionsFrame(
            sessions=[
                SessionSummary(
                    sessionId=listed.sessionId,
                    sessionToken=self._tokens.issue(listed.sessionId),
                    createdAt=listed.createdAt,
                    lastActivity=listed.lastActivity,
                    title=listed.title or "",
                )
                for listed in self._sessions.sessions_of(session.userSub)
            ]
        )

    def _send_message(
        self,
        connection_id: str,
        session: Session,
        frame: SendMessageFrame,
        source_ip: str | None = None,
    ) -> None:
        session_id = session.sessionId
        existing = self._conversations.get(session_id, frame.messageId, "user")
        if existing is None:
            if self._limits is not None:
                self._limits.admit_message(source_ip)
            self._sessions.admit_message(session_id)
            existing, created = self._conversations.add_user_message(
                session_id, frame.messageId, frame.content
            )
            if created:
                if session.title is None:
                    self._sessions.set_title(session_id, frame.content)
                self._post(connection_id, self._ack(frame.messageId, session_id))
                self._start_engine(connection_id, session_id, frame.messageId)
                return
        self._resend(connection_id, existing)

    def _resend(self, connection_id: str, user_message: ConversationRecord) -> None:
        """A messageId seen before: acknowledge it as a duplicate and never answer it twice."""
        session_id, message_id = user_message.sessionId, user_message.messageId
        self._post(connection_id, self._ack(message_id, session_id, duplicate=True))
        answer = self._conversations.get(session_id, message_id, "assistant")
        if answer is not None:
            self._post(connection_id, MessageFrame.from_record(answer))
        elif self._conversations.claim_retry(user_message):
            # The last attempt failed (a model outage) or its lease lapsed (the engine died,
            # or never started): this resend is the user's retry.
            self._start_engine(connection_id, session_id, message_id)

    def _start_engine(self, connection_id: str, session_id: str, message_id: str) -> None:
        request = EngineRequest(
            sessionId=session_id, messageId=message_id, connectionId=connection_id
        )
        try:
            self._invoker.invoke(request)
        except Exception as error:
            logger.exception("engine invocation failed", extra={"messageId": message_id})
            self._conversations.set_status(session_id, message_id, "failed")
            raise InternalError(f"engine invoke: {error}") from None

    # --- replies -------------------------------------------------------------------

    def _ack(self, message_id: str, session_id: str, *, duplicate: bool = False) -> AckFrame:
        return AckFrame(
            messageId=message_id,
            sessionId=session_id,
            timestamp=iso(self._clock.now()),
            duplicate=True if duplicate else None,
        )

    def _post(self, connection_id: str, frame: ServerFrame) -> None:
        try:
            self._sender.post(connection_id, frame.to_json())
        except ConnectionGoneError:
            logger.info("client left before its reply", extra={"connectionId": connection_id})
        except FrameTooLargeError as error:
            # Every frame is built to fit (history pages, bounded answers), so this is our
            # bug, not the client's: INTERNAL_ERROR rather than MESSAGE_TOO_LARGE, which
            # would tell the person their message was too long.
            message_id = getattr(frame, "messageId", None)
            logger.error(
                "reply too large for the connection",
                extra={
                    "connectionId": connection_id,
                    "frameType": getattr(frame, "type", None),
                    "messageId": message_id,
                    "bytes": error.size,
                    "limit": error.limit,
                },
            )
            failure = InternalError("reply frame too large")
            self._post(connection_id, ErrorFrame.from_error(failure, message_id))

    def _reply_error(self, connection_id: str, error: ChatbotError, message_id: str | None) -> None:
        # The code and the fields at fault only: an error's text may quote the frame.
        extra: dict[str, object] = {"connectionId": connection_id, "code": error.code.value}
        if isinstance(error, FrameError) and error.fields:
            extra["fields"] = list(error.fields)
        if self._log_user_content:
            extra["detail"] = str(error)
        logger.info("frame refused", extra=extra)
        self._post(connection_id, ErrorFrame.from_error(error, message_id))
        self._record_refusal(connection_id, error)

    def _record_refusal(self, connection_id: str, error: ChatbotError) -> None:
        """An ``error`` analytics event for a refused frame, so that analysts see invalid
        frames, oversized messages and rate limiting beside the engine's failures. A frame
        from a connection with no session (it never connected) has nobody to count it for.
        With limits, one event per session, minute and code, counting them: a flood of bad
        frames adds no rows."""
        try:
            session_id = self._sessions.connection(connection_id).sessionId
        except ChatbotError:
            return
        if self._limits is not None:
            self._limits.count_refusal(error.code.value, session_id)
            return
        self._analytics.record("error", session_id, {"code": error.code.value, "stage": "frame"})


def _where(error: BaseException) -> str:
    """Where an exception was raised (file:line), without its message."""
    frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    return f"{frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}" if frame else "?"
