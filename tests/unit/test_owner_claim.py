"""Owner claims: signed by the engine, verified by the MCP server; forged, tampered, expired,
moved or missing claims are refused, and a fixed-owner server takes no owner from _meta."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from chatbot.config import Settings
from chatbot.mcp_server import owner_claims, tools_key
from chatbot.tools.errors import ToolErrorCode
from chatbot.tools.owner_claim import (
    CLAIM_META_KEY,
    OWNER_META_KEY,
    ClaimedOwner,
    FixedOwner,
    OwnerClaims,
    OwnerRefused,
    owner_refusal,
)
from tests.conftest import FakeClock

KEY = b"k" * 32
LIFETIME = timedelta(minutes=6)


def claims(clock: FakeClock, key: bytes = KEY) -> OwnerClaims:
    return OwnerClaims(lambda: key, clock=clock, lifetime=LIFETIME)


def reason(policy: ClaimedOwner | FixedOwner, meta: dict[str, object]) -> str:
    with pytest.raises(OwnerRefused) as refused:
        policy.owner_of(meta)
    return refused.value.reason


def test_a_claim_names_its_owner_for_the_claims_lifetime(clock: FakeClock) -> None:
    meta = claims(clock).meta("alice")
    assert meta[OWNER_META_KEY] == "alice"
    version, expiry, mac = meta[CLAIM_META_KEY].split(".")
    assert (version, int(expiry)) == ("v1", int(clock.time()) + 360)
    assert len(mac) == 43
    assert ClaimedOwner(claims(clock)).owner_of(meta) == "alice"


def test_a_claim_moved_to_another_owner_is_refused(clock: FakeClock) -> None:
    meta = claims(clock).meta("mallory")
    assert reason(ClaimedOwner(claims(clock)), {**meta, OWNER_META_KEY: "alice"}) == (
        "bad signature"
    )


def test_a_claim_for_another_owner_does_not_serve_mine(clock: FakeClock) -> None:
    alices = claims(clock).meta("alice")[CLAIM_META_KEY]
    meta = {OWNER_META_KEY: "mallory", CLAIM_META_KEY: alices}
    assert reason(ClaimedOwner(claims(clock)), meta) == "bad signature"


def test_a_claim_signed_with_another_key_is_refused(clock: FakeClock) -> None:
    forged = claims(clock, key=b"f" * 32).meta("alice")
    assert reason(ClaimedOwner(claims(clock)), forged) == "bad signature"


def test_a_claim_whose_expiry_was_moved_is_refused(clock: FakeClock) -> None:
    meta = claims(clock).meta("alice")
    version, expiry, mac = meta[CLAIM_META_KEY].split(".")
    later = f"{version}.{int(expiry) + 3600}.{mac}"
    assert reason(ClaimedOwner(claims(clock)), {**meta, CLAIM_META_KEY: later}) == ("bad signature")


def test_a_claim_expires_after_its_lifetime(clock: FakeClock) -> None:
    meta = claims(clock).meta("alice")
    clock.advance(seconds=359)
    assert ClaimedOwner(claims(clock)).owner_of(meta) == "alice"
    clock.advance(seconds=1)
    assert reason(ClaimedOwner(claims(clock)), meta) == "expired claim"


def test_a_claim_from_a_clock_far_ahead_is_refused(clock: FakeClock) -> None:
    ahead = FakeClock(clock.moment + timedelta(hours=2))
    meta = claims(ahead).meta("alice")
    assert reason(ClaimedOwner(claims(clock)), meta) == "claim expires too far ahead"


@pytest.mark.parametrize(
    ("meta", "why"),
    [
        ({}, "no owner claim"),
        ({OWNER_META_KEY: "alice"}, "no owner claim"),
        ({OWNER_META_KEY: "alice", CLAIM_META_KEY: 7}, "no owner claim"),
        ({OWNER_META_KEY: "", CLAIM_META_KEY: "v1.1.x"}, "malformed owner"),
        ({OWNER_META_KEY: "a" * 129, CLAIM_META_KEY: "v1.1.x"}, "malformed owner"),
        ({OWNER_META_KEY: ["alice"], CLAIM_META_KEY: "v1.1.x"}, "malformed owner"),
        ({OWNER_META_KEY: "alice", CLAIM_META_KEY: "v2.1." + "A" * 43}, "malformed claim"),
        ({OWNER_META_KEY: "alice", CLAIM_META_KEY: "v1.-1." + "A" * 43}, "malformed claim"),
        ({OWNER_META_KEY: "alice", CLAIM_META_KEY: "v1.1e9." + "A" * 43}, "malformed claim"),
        ({OWNER_META_KEY: "alice", CLAIM_META_KEY: "v1.1." + "A" * 42}, "malformed claim"),
        ({OWNER_META_KEY: "alice", CLAIM_META_KEY: "v1.1." + "\udc80" * 43}, "malformed claim"),
        ({OWNER_META_KEY: "alice", CLAIM_META_KEY: "v1.99999999999." + "A" * 43}, "bad signature"),
    ],
)
def test_a_missing_or_malformed_claim_is_refused(
    clock: FakeClock, meta: dict[str, object], why: str
) -> None:
    assert reason(ClaimedOwner(claims(clock)), meta) == why


def test_a_fixed_owner_acts_for_that_owner_only(clock: FakeClock) -> None:
    person = FixedOwner("person")
    assert person.owner_of({}) == "person"
    assert person.owner_of({"progressToken": 1}) == "person"
    valid = claims(clock).meta("alice")
    for meta in (valid, {OWNER_META_KEY: "alice"}, {CLAIM_META_KEY: valid[CLAIM_META_KEY]}):
        assert reason(person, meta) == "owner in _meta on a fixed-owner server"


def test_the_refusal_is_one_message_that_echoes_nothing() -> None:
    refusal = owner_refusal()
    assert refusal.code == ToolErrorCode.OWNER_INVALID
    assert "alice" not in refusal.message and "v1." not in refusal.message


def test_a_short_key_or_a_long_lifetime_is_a_configuration_error(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        claims(clock, key=b"short").issue("alice")
    with pytest.raises(ValueError, match="between 1 s and"):
        OwnerClaims(lambda: KEY, clock=clock, lifetime=timedelta(hours=2))


def test_the_local_key_is_its_own_private_file_in_the_state_folder(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = Settings(CHATBOT_STATE_DIR=tmp_path / "state")
    issued = owner_claims(settings, clock).meta("alice")
    key = settings.tools_key_path
    assert key == tmp_path / "state" / "tools-key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    assert not settings.secret_path.exists()  # not the session-token secret
    # Another process on the same state folder (the stdio server) verifies it.
    assert ClaimedOwner(owner_claims(settings, clock)).owner_of(issued) == "alice"
    assert tools_key(settings)() == key.read_bytes()


def test_a_claim_lives_one_answer_at_most_an_hour(tmp_path: Path, clock: FakeClock) -> None:
    short = Settings(CHATBOT_STATE_DIR=tmp_path, ANSWER_TIMEOUT_SECONDS=60)
    long = Settings(CHATBOT_STATE_DIR=tmp_path, ANSWER_TIMEOUT_SECONDS=7200)
    expiry = int(owner_claims(short, clock).issue("a").split(".")[1])
    assert expiry == int(clock.time()) + 60
    expiry = int(owner_claims(long, clock).issue("a").split(".")[1])
    assert expiry == int(clock.time()) + 3600


def test_in_aws_the_key_is_named_by_tools_secret_arn(clock: FakeClock) -> None:
    settings = Settings(CHATBOT_ENV="aws")
    with pytest.raises(ValueError, match="TOOLS_SECRET_ARN"):
        owner_claims(settings, clock).issue("alice")


@pytest.mark.parametrize("owner", ["", "x" * 129])
def test_chatbot_mcp_refuses_an_empty_or_overlong_owner(
    owner: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from chatbot.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["mcp", "--owner", owner])
    assert exited.value.code == 2
    assert "an owner must be 1 to 128 characters" in capsys.readouterr().err
