"""Session tokens: derived from a secret, checked in constant time, secret kept private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from chatbot.tokens import SessionTokens, load_or_create_local_secret


def test_a_token_verifies_for_its_session_only() -> None:
    tokens = SessionTokens(b"k" * 32)
    token = tokens.issue("session-a")
    assert tokens.verify("session-a", token)
    assert not tokens.verify("session-b", token)
    assert not tokens.verify("session-a", token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not tokens.verify("session-a", None)
    assert not tokens.verify("session-a", "")


def test_another_secret_gives_other_tokens() -> None:
    assert SessionTokens(b"a" * 32).issue("s") != SessionTokens(b"b" * 32).issue("s")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        SessionTokens(b"short")


def test_the_local_secret_is_created_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret"
    first = load_or_create_local_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_local_secret(path) == first
