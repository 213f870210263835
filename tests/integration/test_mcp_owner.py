"""Owners that cannot be forged, over every transport: in-memory, stdio (a real `chatbot mcp`
subprocess), and the Lambda's handle_message. A forged, tampered, expired, moved or missing
claim is refused with OWNER_INVALID and reads or changes nothing; `--owner` is the only owner
of a person's stdio server."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import boto3
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from moto import mock_aws

from chatbot.clock import SystemClock
from chatbot.config import Settings
from chatbot.handlers import mcp as mcp_handler
from chatbot.mcp_server import owner_claims, server_from_settings, tools_key
from chatbot.mcp_transports import handle_message
from chatbot.tools.owner_claim import CLAIM_META_KEY, OWNER_META_KEY, ClaimedOwner
from tests.conftest import FakeClock
from tests.integration.mcp_harness import error_code, error_of, memory_session, stored_records

SECRET = {"title": "alice's diary"}


def bad_claims(settings: Settings, clock: FakeClock) -> dict[str, dict[str, Any]]:
    """Every way mallory's client may try to act as alice, or as nobody."""
    claims = owner_claims(settings, clock)
    mallorys = claims.meta("mallory")
    alices_claim = claims.meta("alice")[CLAIM_META_KEY]
    version, expiry, mac = mallorys[CLAIM_META_KEY].split(".")
    past = owner_claims(settings, FakeClock(clock.moment.replace(year=clock.moment.year - 1)))
    return {
        "no claim": {},
        "owner only": {OWNER_META_KEY: "alice"},
        "tampered owner": {**mallorys, OWNER_META_KEY: "alice"},
        "claim for another owner": {OWNER_META_KEY: "mallory", CLAIM_META_KEY: alices_claim},
        "forged signature": {
            OWNER_META_KEY: "alice",
            CLAIM_META_KEY: f"{version}.{expiry}.{'A' * 43}",
        },
        "moved expiry": {**mallorys, CLAIM_META_KEY: f"{version}.{int(expiry) + 60}.{mac}"},
        "expired": past.meta("alice"),
    }


@pytest.mark.parametrize(
    "attempt",
    [
        "no claim",
        "owner only",
        "tampered owner",
        "claim for another owner",
        "forged signature",
        "moved expiry",
        "expired",
    ],
)
async def test_a_call_without_a_valid_claim_is_refused_and_touches_nothing(
    settings: Settings, attempt: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    meta = bad_claims(settings, clock)[attempt]
    async with memory_session(settings, clock) as client:
        created = await client.call("create_record", {"data": SECRET}, "alice")
        record_id = created.structuredContent["record_id"]
        before = stored_records(settings)
        with caplog.at_level(logging.WARNING, logger="chatbot"):
            results = [
                await client.session.call_tool(tool, arguments, meta=meta)
                for tool, arguments in (
                    ("read_record", {"record_id": record_id}),
                    ("update_record", {"record_id": record_id, "data": {"title": "stolen"}}),
                    ("delete_record", {"record_id": record_id}),
                    ("list_records", {}),
                    ("create_record", {"data": {"title": "planted"}}),
                )
            ]
    assert [error_code(result) for result in results] == ["OWNER_INVALID"] * 5
    assert stored_records(settings) == before
    shown = " ".join(result.content[0].text for result in results)
    logged = " ".join(str(vars(record)) for record in caplog.records)
    for value in (*(str(v) for v in meta.values()), "diary", record_id):
        assert value not in shown
        assert value not in logged
    assert "owner not verified" in logged


async def test_an_expired_claim_is_refused_once_the_clock_passes_its_expiry(
    settings: Settings,
) -> None:
    clock = FakeClock()
    meta = owner_claims(settings, clock).meta("alice")
    async with memory_session(settings, clock) as client:
        first = await client.session.call_tool("list_records", {}, meta=meta)
        clock.advance(seconds=settings.answer_timeout_seconds)
        late = await client.session.call_tool("list_records", {}, meta=meta)
    assert not first.isError
    assert error_code(late) == "OWNER_INVALID"


async def test_a_fixed_owner_server_refuses_any_owner_in_meta(settings: Settings) -> None:
    clock = FakeClock()
    valid = owner_claims(settings, clock).meta("alice")
    async with memory_session(settings, clock, fixed_owner="person") as client:
        mine = await client.session.call_tool("create_record", {"data": {"n": 1}})
        as_alice = await client.session.call_tool(
            "list_records", {}, meta={OWNER_META_KEY: "alice"}
        )
        signed = await client.session.call_tool("list_records", {}, meta=valid)
    assert not mine.isError
    assert error_code(as_alice) == "OWNER_INVALID"
    assert error_code(signed) == "OWNER_INVALID"
    assert "alice" not in error_of(as_alice)["message"]
    assert [record["owner"] for record in stored_records(settings)] == ["person"]


@asynccontextmanager
async def stdio_session(state: Path, *options: str) -> AsyncIterator[ClientSession]:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "chatbot.cli", "mcp", *options],
        env={**os.environ, "CHATBOT_STATE_DIR": str(state)},
    )
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_chatbot_mcp_with_owner_acts_for_that_owner_only(tmp_path: Path) -> None:
    settings = Settings(CHATBOT_STATE_DIR=tmp_path / "state")
    with anyio.fail_after(60):
        async with stdio_session(settings.state_dir, "--owner", "bob") as session:
            mine = await session.call_tool("create_record", {"data": {"title": "bob's"}})
            as_alice = await session.call_tool("list_records", {}, meta={OWNER_META_KEY: "alice"})
            claim = {CLAIM_META_KEY: "v1.1." + "A" * 43}
            with_claim = await session.call_tool("list_records", {}, meta=claim)
    assert not mine.isError
    assert error_code(as_alice) == "OWNER_INVALID"
    assert error_code(with_claim) == "OWNER_INVALID"
    assert [record["owner"] for record in stored_records(settings)] == ["bob"]


async def test_chatbot_mcp_without_owner_needs_the_engines_claim(tmp_path: Path) -> None:
    settings = Settings(CHATBOT_STATE_DIR=tmp_path / "state")
    # The subprocess reads the system clock; the claims are made as the engine makes them,
    # with the key the engine made in the shared state folder.
    claims = owner_claims(settings, SystemClock())
    stale = owner_claims(settings, FakeClock(datetime(2020, 1, 1, tzinfo=UTC)))
    forged = bad_claims(settings, FakeClock())
    with anyio.fail_after(60):
        async with stdio_session(settings.state_dir) as session:
            signed = await session.call_tool(
                "create_record", {"data": SECRET}, meta=claims.meta("alice")
            )
            unsigned = await session.call_tool("list_records", {})
            tampered = await session.call_tool("list_records", {}, meta=forged["tampered owner"])
            expired = await session.call_tool("list_records", {}, meta=stale.meta("alice"))
    assert not signed.isError
    assert [error_code(r) for r in (unsigned, tampered, expired)] == ["OWNER_INVALID"] * 3
    assert [record["owner"] for record in stored_records(settings)] == ["alice"]


def tools_call(meta: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "list_records", "arguments": {}, "_meta": meta},
    }


async def test_the_lambda_server_requires_a_valid_claim_on_every_call(settings: Settings) -> None:
    clock = FakeClock()
    server = server_from_settings(settings, clock=clock)
    valid = await handle_message(server, tools_call(owner_claims(settings, clock).meta("alice")))
    assert valid is not None and not valid["result"].get("isError")
    for name, meta in bad_claims(settings, clock).items():
        reply = await handle_message(server, tools_call(meta))
        assert reply is not None and reply["result"]["isError"], name
        assert json.loads(reply["result"]["content"][0]["text"])["error"]["code"] == (
            "OWNER_INVALID"
        )


def test_the_lambda_handler_refuses_a_call_without_a_claim(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    mcp_handler._server.cache_clear()
    monkeypatch.setattr(mcp_handler, "load_settings", lambda: settings)
    refused = mcp_handler.handle_message_sync(tools_call({OWNER_META_KEY: "alice"}))
    signed = mcp_handler.handle_message_sync(
        tools_call(owner_claims(settings, SystemClock()).meta("alice"))
    )
    mcp_handler._server.cache_clear()
    assert refused is not None and refused["result"]["isError"]
    assert signed is not None and not signed["result"].get("isError")


@pytest.mark.usefixtures("fake_aws_credentials")
def test_in_aws_the_engine_and_the_server_share_the_key_from_secrets_manager(
    clock: FakeClock,
) -> None:
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="chatbot-tools-key", SecretString="t" * 64
        )
        settings = Settings(CHATBOT_ENV="aws", TOOLS_SECRET_ARN=secret["ARN"])
        meta = owner_claims(settings, clock).meta("alice")
        assert ClaimedOwner(owner_claims(settings, clock)).owner_of(meta) == "alice"
        assert tools_key(settings)() == b"t" * 64
    assert not settings.tools_key_path.exists()  # no local key is made in AWS
