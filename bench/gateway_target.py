"""The server a gateway benchmark runs against: `chatbot serve` or the echo server, as a
child process on a free port with a fresh state dir, stopped when the run ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/")
# The embedded defaults are what is measured, whatever the developer's shell says.
LEAKY_SETTINGS = ("CHATBOT_ENV", "CHATBOT_MODEL", "RATE_LIMIT_PER_MINUTE")
# Every bench client comes from 127.0.0.1: the per-IP bounds (10 sessions, 30 messages a
# minute) would refuse nearly all of them, so they are off; each session's own limit stays.
# The daily token budgets are off too: a run's grounded prompts would use the deployment's.
BENCH_SETTINGS = {
    # A fresh state folder would otherwise ingest the starter corpus while being measured.
    "STARTER_CORPUS": "false",
    "SESSIONS_PER_IP_PER_MINUTE": "0",
    "MESSAGES_PER_IP_PER_MINUTE": "0",
    "SESSION_TOKENS_PER_DAY": "0",
    "DEPLOYMENT_TOKENS_PER_DAY": "0",
}
# Logged by the gateway once every engine worker has its model (the first is up at the URL).
ALL_WORKERS_READY = '"all engine workers ready"'
# The gateway's tail of output is kept to explain a failed start.
OUTPUT_TAIL_BYTES = 16 * 1024


class Target:
    """A server in a child process, started on a free port and stopped when the run ends."""

    def __init__(self, echo: bool, ingest: list[Path] | None = None) -> None:
        self.echo = echo
        # Documents ingested into the fresh state dir before the server starts.
        self.ingest = ingest or []
        self.name = "echo server" if echo else "gateway"
        self.process: asyncio.subprocess.Process | None = None
        self.tail = bytearray()
        self._state_dir = tempfile.TemporaryDirectory(prefix="chatbot-bench-")
        self._drain_task: asyncio.Task[None] | None = None

    async def start(self, within_seconds: float, lifetime: float) -> str:
        if self.echo:
            command = [sys.executable, str(REPO_ROOT / "bench" / "echo_server.py")]
            command += ["--port", "0", "--lifetime", str(lifetime)]
        else:
            command = [sys.executable, "-m", "chatbot.cli", "serve", "--host", "127.0.0.1"]
            command += ["--port", "0"]
        # A fresh state dir: no sessions or history from earlier runs skew the figures.
        env = {name: value for name, value in os.environ.items() if name not in LEAKY_SETTINGS}
        env["CHATBOT_STATE_DIR"] = self._state_dir.name
        env |= BENCH_SETTINGS
        if self.ingest:
            ingesting = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "chatbot.cli", "ingest", *map(str, self.ingest)),
                cwd=REPO_ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _out, errors = await asyncio.wait_for(ingesting.communicate(), within_seconds)
            if ingesting.returncode:
                raise SystemExit(f"chatbot ingest failed:\n{errors.decode(errors='replace')}")
        self.process = await asyncio.create_subprocess_exec(
            *command,
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            port = await asyncio.wait_for(self._wait_for_url(), within_seconds)
        except TimeoutError:
            raise SystemExit(
                f"{self.name} did not start within {within_seconds} s:\n{self.output()}"
            ) from None
        # The gateway logs every request; unread, its pipe would fill and stall it.
        self._drain_task = asyncio.create_task(self._drain())
        return f"ws://127.0.0.1:{port}/"

    async def _wait_for_url(self) -> int:
        assert self.process is not None
        assert self.process.stdout is not None
        port = None
        while line := await self.process.stdout.readline():
            self._keep(line)
            text = line.decode(errors="replace")
            if port is None and (match := READY_LINE.search(text)):
                port = int(match.group(1))
            # The load starts once every engine worker is up (none: ENGINE_WORKERS=0, echo).
            in_process = self.echo or os.environ.get("ENGINE_WORKERS") == "0"
            if port is not None and (in_process or ALL_WORKERS_READY in self.output()):
                return port
        raise SystemExit(f"{self.name} exited ({await self.process.wait()}):\n{self.output()}")

    async def _drain(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(65536):
            self._keep(chunk)

    def _keep(self, data: bytes) -> None:
        self.tail += data
        del self.tail[:-OUTPUT_TAIL_BYTES]

    def output(self) -> str:
        return self.tail.decode(errors="replace")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain_task
        self._state_dir.cleanup()
