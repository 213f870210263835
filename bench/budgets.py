"""The local gateway's speed budgets (issue 15), checked by ``bench/gateway.py --budget``.

At LOAD_CLIENTS clients on the embedded defaults (semantic router on): ack p99 and answers/s.
The ack budget is checked on the acks after each client's first message: at the start line
every client sends at once, a burst of LOAD_CLIENTS frames in one millisecond that the bare
echo server, doing no work, answers with a p99 over 50 ms on this 2-core machine (59.7 ms,
2026-12-02). Those first acks are printed, beside the whole run's p99, not budgeted.
At one client: the first ``delta`` of each path (rag, general, tools), from the send.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import connect

REPO_ROOT = Path(__file__).resolve().parents[1]

ACK_P99_MS = 50.0
ANSWERS_PER_SECOND = 100.0
FIRST_DELTA_P50_MS = 100.0
LOAD_CLIENTS = 200

# What the rag path searches: ingested into the gateway's fresh state dir before it starts.
BUDGET_DOCUMENTS = [REPO_ROOT / "README.md", REPO_ROOT / "docs"]

# Questions the semantic router sends to each path by itself (checked: not by asking the
# model), each asked once, one after another, from one client on an idle gateway.
PATH_QUESTIONS: dict[str, list[str]] = {
    "rag": [
        "What does our guide say about the session timeout?",
        "What does the documentation say about the answer lease?",
        "According to our readme, which settings does the local gateway read?",
        "What does the operations guide say about the rate limit per minute?",
        "How does our runbook say the session cleanup works?",
    ],
    "general": [
        "Hello, how are you doing today?",
        "Thanks, that was helpful!",
        "Good evening, nice to meet you",
        "Hi! How is your day going?",
        "Thank you so much for the help",
    ],
    "mcp_tool": [
        "List my records.",
        "Create a record titled quarterly review",
        "Show me all my records",
        "List all records please",
        "Create a record titled budget plan",
    ],
}


@dataclass
class PathProbe:
    """One path's first-delta times (seconds) and where its questions were routed."""

    path: str
    first_delta_s: list[float]
    routed: list[str]
    errors: list[str]


async def probe_paths(url: str, frame_seconds: float) -> list[PathProbe]:
    """Each path's questions from one client, one after another."""
    probes = []
    async with connect(url, open_timeout=frame_seconds) as connection:
        await connection.send(json.dumps({"action": "getSession"}))
        session = None
        while session != "session":
            session = json.loads(await asyncio.wait_for(connection.recv(), frame_seconds))["type"]
        for path, questions in PATH_QUESTIONS.items():
            probe = PathProbe(path, [], [], [])
            for question in questions:
                message_id = f"probe-{uuid.uuid4().hex[:12]}"
                frame = {"action": "sendMessage", "messageId": message_id, "content": question}
                sent = time.perf_counter()
                await connection.send(json.dumps(frame))
                first_delta = None
                while True:
                    reply = json.loads(await asyncio.wait_for(connection.recv(), frame_seconds))
                    if reply.get("messageId") != message_id:
                        continue
                    if reply["type"] == "delta" and first_delta is None:
                        first_delta = time.perf_counter() - sent
                    elif reply["type"] == "message":
                        probe.routed.append(str(reply.get("queryType")))
                        break
                    elif reply["type"] == "error":
                        probe.errors.append(str(reply.get("code")))
                        break
                if first_delta is not None:
                    probe.first_delta_s.append(first_delta)
            probes.append(probe)
    return probes


@dataclass(frozen=True)
class Verdict:
    name: str
    measured: float
    limit: float
    # True: the measure must be at most the limit; False: at least.
    at_most: bool
    note: str = ""

    @property
    def ok(self) -> bool:
        if math.isnan(self.measured) or self.note:
            return False
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit

    def line(self) -> str:
        sign = "<=" if self.at_most else ">="
        verdict = "ok" if self.ok else "OVER BUDGET"
        note = f" ({self.note})" if self.note else ""
        return f"{self.name}: {self.measured:.1f} (budget {sign} {self.limit:g}) {verdict}{note}"


def load_verdicts(clients: int, ack_p99_ms: float, answers_per_second: float) -> list[Verdict]:
    note = "" if clients == LOAD_CLIENTS else f"measured at {clients} clients, not {LOAD_CLIENTS}"
    return [
        Verdict(
            f"ack p99 ms at {clients} clients, after the start line",
            ack_p99_ms,
            ACK_P99_MS,
            True,
            note,
        ),
        Verdict(
            f"answers/s at {clients} clients", answers_per_second, ANSWERS_PER_SECOND, False, note
        ),
    ]


def path_verdicts(probes: list[PathProbe], p50_ms: dict[str, float]) -> list[Verdict]:
    """``p50_ms``: each path's median first delta in milliseconds. A question the router
    sent elsewhere, or that failed, voids its path's figure."""
    verdicts = []
    for probe in probes:
        misrouted = sorted({route for route in probe.routed if route != probe.path})
        note = ""
        if probe.errors:
            note = f"errors: {', '.join(probe.errors)}"
        elif misrouted:
            note = f"routed to {', '.join(misrouted)}"
        verdicts.append(
            Verdict(
                f"first delta p50 ms, {probe.path} path, 1 client",
                p50_ms[probe.path],
                FIRST_DELTA_P50_MS,
                True,
                note,
            )
        )
    return verdicts


def query_batch_lines(output: str) -> list[dict[str, object]]:
    """The engine workers' "query embedding batches" log lines (one per worker, at stop)."""
    found = []
    for line in output.splitlines():
        if line.startswith("{") and '"query embedding batches"' in line:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # a line cut by the output tail's start
    return found


def describe_batches(lines: list[dict[str, object]]) -> str:
    if not lines:
        return "query embedding batches: none logged (no engine worker, or it did not stop)"
    parts = []
    for number, line in enumerate(lines):
        sizes = line.get("sizes") or {}
        histogram = ", ".join(f"{size}x{count}" for size, count in dict(sizes).items())
        parts.append(
            f"worker {number}: {line.get('queries')} queries in {line.get('batches')} batches, "
            f"largest {line.get('largest')} (size x batches: {histogram})"
        )
    return "query embedding batches: " + "; ".join(parts)
