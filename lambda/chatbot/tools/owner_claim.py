"""Owners that cannot be forged: who a tools call acts for, signed by the engine, checked by
the MCP server on every call.

The engine puts two keys in each tools call's ``_meta``: ``chatbot/owner``, the chat session
the answer is for, and ``chatbot/owner-claim``, a compact token ``v1.<expiry>.<mac>``: the
Unix second from which the claim is refused, and the HMAC-SHA256, under a key only the engine
and the MCP server hold, of the version, the owner and the expiry. A client without the key
can neither make a claim nor move one to another owner, and a claim it saw stops working
once it expires (one answer's time).

A server started for one person (``chatbot mcp --owner X``) takes no owner from its
clients at all: every call acts as X, and a call whose ``_meta`` names an owner or a claim is
refused, so that no client believes it acts for someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final, Protocol

from chatbot.clock import Clock
from chatbot.tools.errors import ToolError, ToolErrorCode

OWNER_META_KEY: Final = "chatbot/owner"
CLAIM_META_KEY: Final = "chatbot/owner-claim"
CLAIM_VERSION: Final = "v1"
MIN_KEY_BYTES: Final = 32
MAX_OWNER_CHARS: Final = 128
# No claim lives longer than this, whatever it says: a key holder with a wrong clock cannot
# mint claims that outlive the hour.
MAX_LIFETIME: Final = timedelta(hours=1)
# Leeway for the clocks of two machines (the engine's and the MCP server's functions).
CLOCK_SKEW_SECONDS: Final = 60
# Label of the MAC's message: a MAC made for anything else under the same key never matches.
_LABEL: Final = "chatbot-owner-claim"
_MAC_CHARS: Final = 43  # 32 bytes in unpadded base64url
_MAX_EXPIRY_DIGITS: Final = 12


class OwnerRefused(Exception):
    """A call whose owner could not be verified. ``reason`` is for the log only: a short,
    fixed phrase that never holds the value sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def owner_refusal() -> ToolError:
    """What the caller is told: the same for every reason, echoing nothing."""
    return ToolError(
        ToolErrorCode.OWNER_INVALID,
        "This call's owner could not be verified, so nothing was read or changed.",
    )


class OwnerPolicy(Protocol):
    """Decides whose records a call acts on, from the call's ``_meta``; raises OwnerRefused."""

    def owner_of(self, meta: Mapping[str, Any]) -> str: ...


class OwnerClaims:
    """Issues and verifies owner claims under one key, against one clock."""

    def __init__(
        self, key: Callable[[], bytes], *, clock: Clock, lifetime: timedelta = MAX_LIFETIME
    ) -> None:
        if not timedelta(seconds=1) <= lifetime <= MAX_LIFETIME:
            raise ValueError(f"an owner claim must live between 1 s and {MAX_LIFETIME}")
        # Called on each use, so that a key the platform caches and rotates is picked up.
        self._key = key
        self._clock = clock
        self._lifetime = int(lifetime.total_seconds())

    def issue(self, owner: str) -> str:
        """A claim that the call acts for ``owner``, good for the claims' lifetime from now."""
        if not 0 < len(owner) <= MAX_OWNER_CHARS:
            raise ValueError(f"an owner must be 1 to {MAX_OWNER_CHARS} characters")
        expiry = str(int(self._clock.time()) + self._lifetime)
        return f"{CLAIM_VERSION}.{expiry}.{self._mac(owner, expiry)}"

    def meta(self, owner: str) -> dict[str, str]:
        """The ``_meta`` entries of a call for ``owner``."""
        return {OWNER_META_KEY: owner, CLAIM_META_KEY: self.issue(owner)}

    def verify(self, owner: object, claim: object) -> str:
        """``owner`` if ``claim`` is a current claim for it; raises OwnerRefused otherwise."""
        if owner is None and claim is None:
            raise OwnerRefused("no owner claim")
        if not isinstance(owner, str) or not 0 < len(owner) <= MAX_OWNER_CHARS:
            raise OwnerRefused("malformed owner")
        if not isinstance(claim, str):
            raise OwnerRefused("no owner claim")
        parts = claim.split(".")
        if len(parts) != 3 or parts[0] != CLAIM_VERSION:
            raise OwnerRefused("malformed claim")
        _, expiry, mac = parts
        if not (expiry.isascii() and expiry.isdigit() and len(expiry) <= _MAX_EXPIRY_DIGITS):
            raise OwnerRefused("malformed claim")
        if len(mac) != _MAC_CHARS or not mac.isascii():
            raise OwnerRefused("malformed claim")
        # Compared in constant time, before the expiry is trusted.
        if not hmac.compare_digest(self._mac(owner, expiry).encode(), mac.encode()):
            raise OwnerRefused("bad signature")
        now = self._clock.time()
        if int(expiry) <= now:
            raise OwnerRefused("expired claim")
        if int(expiry) > now + MAX_LIFETIME.total_seconds() + CLOCK_SKEW_SECONDS:
            raise OwnerRefused("claim expires too far ahead")
        return owner

    def _mac(self, owner: str, expiry: str) -> str:
        key = self._key()
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the owner-claim key must be at least {MIN_KEY_BYTES} bytes")
        # JSON keeps the fields apart whatever the owner holds (ASCII: lone surrogates too).
        message = json.dumps([_LABEL, CLAIM_VERSION, owner, expiry]).encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ClaimedOwner:
    """The engine's servers (memory, stdio without ``--owner``, Lambda): a valid claim or
    nothing."""

    def __init__(self, claims: OwnerClaims) -> None:
        self._claims = claims

    def owner_of(self, meta: Mapping[str, Any]) -> str:
        return self._claims.verify(meta.get(OWNER_META_KEY), meta.get(CLAIM_META_KEY))


class FixedOwner:
    """A person's server (``chatbot mcp --owner X``): every call acts as X, and only X."""

    def __init__(self, owner: str) -> None:
        if not 0 < len(owner) <= MAX_OWNER_CHARS:
            raise ValueError(f"an owner must be 1 to {MAX_OWNER_CHARS} characters")
        self._owner = owner

    def owner_of(self, meta: Mapping[str, Any]) -> str:
        if OWNER_META_KEY in meta or CLAIM_META_KEY in meta:
            raise OwnerRefused("owner in _meta on a fixed-owner server")
        return self._owner
