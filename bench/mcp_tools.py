"""MCP tool-call latency: N calls through a real MCP client session, per transport.

    .venv/bin/python bench/mcp_tools.py --calls 1000 [--output bench/results/mcp_tools.md]

Transports: in-memory (the server in this process), stdio (`chatbot mcp` as a subprocess,
what the local engine uses), and lambda-handler (each message through the MCP server
Lambda's code path, in-process: what one invocation costs minus Lambda itself). Each run
uses a fresh state folder; calls alternate create_record and read_record so both writes
and reads are measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from chatbot.clock import SystemClock
from chatbot.config import Settings
from chatbot.mcp_server import owner_claims, server_from_settings
from chatbot.mcp_transports import handle_message, lambda_transport, memory_transport

OWNER = "bench"


@asynccontextmanager
async def session_for(
    transport: str, state: Path
) -> AsyncIterator[tuple[ClientSession, dict[str, str]]]:
    """A session on ``transport`` and the _meta of a call for OWNER: the engine's signed claim,
    as every transport's server requires it."""
    settings = Settings(CHATBOT_STATE_DIR=state)
    meta = owner_claims(settings, SystemClock()).meta(OWNER)
    if transport == "in-memory":
        streams = memory_transport(server_from_settings(settings, clock=SystemClock()))
    elif transport == "stdio":
        parameters = StdioServerParameters(
            command=sys.executable,
            args=["-m", "chatbot.cli", "mcp"],
            env={**os.environ, "CHATBOT_STATE_DIR": str(state)},
        )
        streams = stdio_client(parameters)
    else:
        server = server_from_settings(settings, clock=SystemClock())

        def invoke(payload: bytes) -> bytes:
            reply = anyio.from_thread.run(handle_message, server, json.loads(payload))
            return json.dumps(reply).encode()

        streams = lambda_transport(invoke)
    async with streams as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session, meta


async def measure(transport: str, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        async with session_for(transport, Path(state)) as (session, meta):
            timings: list[float] = []
            errors = 0
            record_id = ""

            async def timed(call: Callable[[], Awaitable[Any]]) -> Any:
                started = time.perf_counter()
                result = await call()
                timings.append(time.perf_counter() - started)
                return result

            for n in range(calls):
                if n % 2 == 0:
                    result = await timed(
                        lambda n=n: session.call_tool(
                            "create_record", {"data": {"title": f"item {n}"}}, meta=meta
                        )
                    )
                    record_id = (result.structuredContent or {}).get("record_id", "")
                else:
                    result = await timed(
                        lambda record_id=record_id: session.call_tool(
                            "read_record", {"record_id": record_id}, meta=meta
                        )
                    )
                errors += int(result.isError)
    ordered = sorted(timings)
    return {
        "transport": transport,
        "calls": calls,
        "errors": errors,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "calls_per_s": calls / sum(ordered),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| transport | calls | errors | p50 ms | p99 ms | calls/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['transport']} | {r['calls']} | {r['errors']} | {r['p50_ms']:.2f} | "
        f"{r['p99_ms']:.2f} | {r['calls_per_s']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--transports", default="in-memory,stdio,lambda-handler", help="comma-separated"
    )
    parser.add_argument("--output", type=Path, help="append the results to this Markdown file")
    args = parser.parse_args()
    rows = [anyio.run(measure, name, args.calls) for name in args.transports.split(",")]
    report = table(rows)
    sys.stdout.write(report + "\n")
    if args.output:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        machine = f"nproc {os.cpu_count()}, Python {platform.python_version()}"
        with args.output.open("a") as handle:
            handle.write(f"\n### {stamp}: {args.calls} calls ({machine})\n\n{report}\n")
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
