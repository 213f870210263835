"""Property: no sequence of MCP calls by one owner reads or changes another's records.

Each example is a fresh owner ("mallory") with a client of the MCP server over the in-memory
transport, holding only what such a client can hold: claims the engine signed for mallory.
It makes a sequence of record calls, each either as itself (its valid claim, or no _meta at
all on a server started for it with --owner) or trying to be a bystander: the bystander's
owner with no claim, with mallory's claim, with a forged or expired claim, or the owner in
the arguments. Afterwards the bystanders' records are exactly as they were, no reply showed
any of their data, every record outside theirs is mallory's, and every attempt to be
someone else was refused (OWNER_INVALID, or INVALID_INPUT for an owner in the arguments).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import ClientSession

from chatbot.config import Settings
from chatbot.mcp_server import owner_claims, server_from_settings
from chatbot.mcp_transports import memory_transport
from chatbot.tables import Item
from chatbot.tools.owner_claim import CLAIM_META_KEY, OWNER_META_KEY
from tests.conftest import FakeClock
from tests.integration.mcp_harness import stored_records

CLOCK = FakeClock()
BYSTANDERS = ("alice", "bob")
RECORD_IDS = ("r1", "shared", "diary")
TOOLS = ("create_record", "read_record", "update_record", "delete_record", "list_records")
# The ways to ask: as oneself, or as a bystander without the bystander's claim.
AS_SELF = ("own claim", "fixed owner")
IMPERSONATIONS = (
    "owner only",
    "own claim, their owner",
    "forged claim",
    "random token",
    "expired claim",
    "owner in arguments",
    "fixed owner, their owner",
)


@dataclass(frozen=True)
class Step:
    tool: str
    how: str
    victim: str
    record_id: str
    value: int
    forged: bytes
    token: str


steps = st.builds(
    Step,
    tool=st.sampled_from(TOOLS),
    how=st.sampled_from(AS_SELF + IMPERSONATIONS),
    victim=st.sampled_from(BYSTANDERS),
    record_id=st.sampled_from(RECORD_IDS),
    value=st.integers(-5, 5),
    forged=st.binary(min_size=32, max_size=32),
    token=st.text(max_size=80),
)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    configured = Settings(CHATBOT_STATE_DIR=tmp_path_factory.mktemp("owners") / "state")
    server = server_from_settings(configured, clock=CLOCK)
    claims = owner_claims(configured, CLOCK)

    async def seed() -> None:
        async with memory_transport(server) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            for owner in BYSTANDERS:
                for record_id in RECORD_IDS:
                    data = {"secret": f"secret-of-{owner}", "v": 1}
                    result = await s.call_tool(
                        "create_record",
                        {"record_id": record_id, "data": data},
                        meta=claims.meta(owner),
                    )
                    assert not result.isError

    anyio.run(seed)
    return configured


def arguments_of(step: Step) -> dict[str, Any]:
    if step.tool == "list_records":
        return {}
    if step.tool == "create_record":
        return {"record_id": step.record_id, "data": {"v": step.value}}
    if step.tool == "update_record":
        return {"record_id": step.record_id, "data": {"v": step.value, "secret": "overwritten"}}
    return {"record_id": step.record_id}


def request_of(step: Step, me: str, configured: Settings) -> tuple[str, dict[str, Any], Any]:
    """(which server, arguments, _meta) for one step."""
    claims = owner_claims(configured, CLOCK)
    arguments = arguments_of(step)
    mine = claims.meta(me)
    expiry = mine[CLAIM_META_KEY].split(".")[1]
    forged_mac = base64.urlsafe_b64encode(step.forged).rstrip(b"=").decode()
    past = owner_claims(configured, FakeClock(CLOCK.moment.replace(year=2020)))
    metas: dict[str, tuple[str, Any]] = {
        "own claim": ("claims", mine),
        "fixed owner": ("fixed", None),
        "owner only": ("claims", {OWNER_META_KEY: step.victim}),
        "own claim, their owner": ("claims", {**mine, OWNER_META_KEY: step.victim}),
        "forged claim": (
            "claims",
            {OWNER_META_KEY: step.victim, CLAIM_META_KEY: f"v1.{expiry}.{forged_mac}"},
        ),
        "random token": ("claims", {OWNER_META_KEY: step.victim, CLAIM_META_KEY: step.token}),
        "expired claim": ("claims", past.meta(step.victim)),
        "owner in arguments": ("claims", mine),
        "fixed owner, their owner": ("fixed", {OWNER_META_KEY: step.victim}),
    }
    server, meta = metas[step.how]
    if step.how == "owner in arguments":
        arguments = {**arguments, "owner": step.victim}
    return server, arguments, meta


def bystanders_of(items: list[Item]) -> list[Item]:
    return [item for item in items if item["owner"] in BYSTANDERS]


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(steps, min_size=1, max_size=8))
def test_no_sequence_of_calls_by_one_owner_reaches_anothers_records(
    state: Settings, sequence: list[Step]
) -> None:
    me = f"mallory-{uuid.uuid4().hex}"
    stored = stored_records(state)
    before, owners_before = bystanders_of(stored), {item["owner"] for item in stored}
    servers = {
        "claims": server_from_settings(state, clock=CLOCK),
        "fixed": server_from_settings(state, clock=CLOCK, fixed_owner=me),
    }

    async def run() -> list[tuple[Step, Any]]:
        outcomes = []
        async with (
            memory_transport(servers["claims"]) as claimed,
            memory_transport(servers["fixed"]) as fixed,
            ClientSession(*claimed) as as_claimed,
            ClientSession(*fixed) as as_fixed,
        ):
            await as_claimed.initialize()
            await as_fixed.initialize()
            for step in sequence:
                which, arguments, meta = request_of(step, me, state)
                session = as_claimed if which == "claims" else as_fixed
                outcomes.append((step, await session.call_tool(step.tool, arguments, meta=meta)))
        return outcomes

    outcomes = anyio.run(run)

    after = stored_records(state)
    assert bystanders_of(after) == before
    # Whatever this example stored is mallory's own.
    assert {item["owner"] for item in after} - owners_before <= {me}
    for step, result in outcomes:
        text = result.content[0].text if result.content else ""
        assert "secret-of-" not in text
        assert "secret-of-" not in json.dumps(result.structuredContent or {})
        if step.how in IMPERSONATIONS:
            code = json.loads(text)["error"]["code"]
            expected = "INVALID_INPUT" if step.how == "owner in arguments" else "OWNER_INVALID"
            assert result.isError and code == expected, (step, text)
