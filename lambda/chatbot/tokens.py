"""Session tokens: an HMAC of the session id with a server secret; only the holder resumes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_BYTES = 32


class SessionTokens:
    """Issues and checks session tokens. Tokens need no storage: the secret derives them."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session-token secret must be at least 16 bytes")
        self._secret = secret

    def issue(self, session_id: str) -> str:
        digest = hmac.new(self._secret, b"session:" + session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, session_id: str, token: str | None) -> bool:
        if not token or not session_id:
            return False
        return hmac.compare_digest(self.issue(session_id), token)


def load_or_create_local_secret(path: Path) -> bytes:
    """The local secret: made once, kept in the state folder, readable by its owner only."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        os.chmod(path, 0o600)  # A key copied in (or left by an older version) as 0644.
        return secret
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    secret = secrets.token_bytes(SECRET_BYTES)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    try:
        # Two processes starting at once: the first link wins and both read the same secret.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes()
