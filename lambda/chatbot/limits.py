"""Abuse ceilings at the front door: new sessions and messages per source IP per minute, the
allow-list of page ``Origin``s, and refusals counted in analytics rather than one row each:
refused frames in one event per session, minute and code, refused handshakes in one event per
minute, reason and shard (never the source address).

The per-IP counters are items of the limits table, one per (kind, source, minute), each
incremented atomically by one ``update`` (DynamoDB's ``ADD``; a SQLite write transaction) and
removed by TTL once its minute is over. Past its bound the caller gets ``RateLimitedError``:
the client then sees ``RATE_LIMITED`` (a frame) or HTTP 429 (a handshake).
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger

from chatbot.clock import Clock
from chatbot.errors import RateLimitedError
from chatbot.records import analytics_shard_keys, iso
from chatbot.tables import Table

logger = Logger(service="chatbot", child=True)

WINDOW_SECONDS = 60
ANY_ORIGIN = "*"

Kind = Literal["session", "message"]
FORBIDDEN = 403
TOO_MANY = 429
# Refused handshakes of one minute and reason are counted in this many events, a source's
# shard from a hash of its address, so that a flood does not update one item at its rate.
HANDSHAKE_SHARDS = 8
# Why a handshake was refused, as analytics records it: (HTTP status, reason).
HandshakeRefusal = tuple[int, Literal["origin", "new_sessions"]]
ORIGIN_REFUSED: HandshakeRefusal = (FORBIDDEN, "origin")
SESSIONS_REFUSED: HandshakeRefusal = (TOO_MANY, "new_sessions")


@dataclass(frozen=True)
class ConnectRequest:
    """What a handshake says about its client, from the ``$connect`` event."""

    # requestContext.identity.sourceIp
    source_ip: str | None = None
    # The Origin and Host headers.
    origin: str | None = None
    host: str | None = None
    # The signed-in user (requestContext.authorizer.sub), when sign-in is on.
    user_sub: str | None = None


@dataclass(frozen=True)
class LimitsPolicy:
    """The front door's bounds; 0 turns a per-IP bound off."""

    sessions_per_ip_per_minute: int = 10
    messages_per_ip_per_minute: int = 30
    # Exact origins (scheme://host[:port]) that may open a connection; "*" allows any. Empty:
    # the loopback page at the port the client connected to (the local gateway's own page).
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def parse_origins(cls, text: str | None) -> tuple[str, ...]:
        """A comma-separated ALLOWED_ORIGINS value as normalised origins."""
        if text is None:
            return ()
        return tuple(_normal(part) for part in text.split(",") if part.strip())


class RequestLimits:
    """Counts requests by source and decides whether a page's origin may connect."""

    def __init__(
        self,
        limits: Table,
        analytics: Table,
        policy: LimitsPolicy,
        *,
        analytics_retention: timedelta,
        clock: Clock,
    ) -> None:
        self._limits = limits
        self._analytics = analytics
        self._policy = policy
        self._retention = analytics_retention
        self._clock = clock

    @property
    def policy(self) -> LimitsPolicy:
        return self._policy

    # --- the handshake -------------------------------------------------------------------

    def refuse_connect(self, request: ConnectRequest) -> int | None:
        """The HTTP status refusing this handshake (403: an Origin not allowed), or None."""
        if not self.origin_allowed(request.origin, request.host):
            logger.info("handshake from an origin not allowed")
            self.count_refused_handshake(ORIGIN_REFUSED, request.source_ip)
            return FORBIDDEN
        return None

    def try_new_session(self, source_ip: str | None) -> bool:
        """Count a new session from ``source_ip``; False past the bound (the caller: 429)."""
        try:
            self.admit_session(source_ip)
        except RateLimitedError:
            logger.info("new sessions from one source over the limit")
            self.count_refused_handshake(SESSIONS_REFUSED, source_ip)
            return False
        return True

    # --- per source IP ---------------------------------------------------------------

    def admit_session(self, source_ip: str | None) -> None:
        """Count one new session from ``source_ip``; RateLimitedError past the bound."""
        self._count("session", source_ip, self._policy.sessions_per_ip_per_minute)

    def admit_message(self, source_ip: str | None) -> None:
        """Count one new message from ``source_ip``; RateLimitedError past the bound."""
        self._count("message", source_ip, self._policy.messages_per_ip_per_minute)

    def _count(self, kind: Kind, source_ip: str | None, limit: int) -> None:
        # Every API Gateway event carries its source; only direct callers (tests, tools)
        # may have none, and have nothing to count it against.
        if limit == 0 or not source_ip:
            return
        window = int(self._clock.time() // WINDOW_SECONDS)
        item = self._limits.update(
            {"counterId": f"ip#{kind}#{source_key(source_ip)}#{window}"},
            increment={"count": 1},
            # Kept one window past its own, then gone: nothing to clean up.
            set_values={"ttl": (window + 2) * WINDOW_SECONDS},
        )
        if int(item["count"]) > limit:
            raise RateLimitedError(f"{kind}s per minute from one source over {limit}")

    # --- Origin ------------------------------------------------------------------------

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Whether a handshake with this ``Origin`` header may connect.

        A handshake without ``Origin`` is allowed: browsers always send it on a WebSocket
        handshake (and a script cannot remove it), so its absence means a terminal client
        (``websockets``, ``wscat``, ``chatbot`` itself), which could send any Origin it liked.
        The allow-list stops other sites' pages from using a visitor's browser against this
        endpoint; clients outside browsers are bounded by the per-IP limits instead.
        """
        if not origin:
            return True
        if self._policy.allowed_origins:
            allowed = self._policy.allowed_origins
            return ANY_ORIGIN in allowed or _normal(origin) in allowed
        # No list (the local gateway, which serves its own page): the page's own origin, the
        # host the browser connected to (`make run HOST=0.0.0.0` opened from another machine),
        # or the loopback names at the same port.
        return _same_host(origin, host) or _normal(origin) in _loopback_origins(host)

    # --- refused frames ------------------------------------------------------------------

    def count_refusal(self, code: str, session_id: str) -> None:
        """Count a refused frame in the session's ``error`` analytics event for this code and
        minute (its ``count``), instead of one event per frame: 5,000 bad frames in a minute
        are one row. Never raises."""
        self._count_event(session_id, code, {"code": code, "stage": "frame"})

    def count_refused_handshake(self, refusal: HandshakeRefusal, source_ip: str | None) -> None:
        """Count a refused handshake in this minute's ``error`` event for its reason. A
        handshake has no session: the event's ``sessionId`` names its shard, and neither the
        address nor anything the client sent is stored. Never raises."""
        status, reason = refusal
        shard = zlib.crc32(source_key(source_ip or "").encode()) % HANDSHAKE_SHARDS
        details: dict[str, object] = {"code": reason, "stage": "handshake", "status": status}
        self._count_event(f"handshake#{shard}", reason, details)

    def _count_event(self, session_id: str, code: str, details: dict[str, object]) -> None:
        now = self._clock.now()
        minute = now.replace(second=0, microsecond=0)
        stamp = iso(minute)
        shards = analytics_shard_keys("error", session_id, stamp[:10])
        try:
            self._analytics.update(
                {
                    "dateShard": shards["dateShard"],
                    "eventId": f"{stamp}#refused#{session_id}#{code}",
                },
                set_values={
                    "typeShard": shards["typeShard"],
                    "date": stamp[:10],
                    "eventType": "error",
                    "sessionId": session_id,
                    "timestamp": stamp,
                    "details": details,
                    "ttl": int((now + self._retention).timestamp()),
                },
                increment={"count": 1},
            )
        except Exception:
            logger.exception("refusal not counted", extra={"code": code})


def source_key(source_ip: str) -> str:
    """The counter's name for a source: the address, or its /64 for IPv6 (one host commonly
    holds a whole /64, so counting single addresses would not bound it)."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip[:64]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _loopback_origins(host: str | None) -> tuple[str, ...]:
    """The local gateway's own page, at the port the client connected to."""
    port = _port(host)
    if port is None:
        return ()
    return tuple(f"http://{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]"))


def _same_host(origin: str, host: str | None) -> bool:
    """Whether ``origin`` is an http(s) page of the very host and port the handshake named."""
    if not host:
        return False
    try:
        parts = urlsplit(_normal(origin))
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


def _port(host: str | None) -> int | None:
    if not host:
        return None
    try:
        return urlsplit(f"//{host}").port
    except ValueError:
        return None


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()
