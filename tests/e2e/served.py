"""`chatbot serve` as a person starts it: a child process on a free port, output drained."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Settings a developer's shell may carry that would change what the tests see.
_LEAKY_SETTINGS = ("CHATBOT_ENV", "CHATBOT_MODEL", "RATE_LIMIT_PER_MINUTE", "MCP_TRANSPORT")


def ingest(
    paths: list[str], state: Path, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """`chatbot ingest PATH...` as an operator runs it, into the state folder ``state``."""
    result = subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "ingest", *paths],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CHATBOT_STATE_DIR": str(state)},
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """`chatbot serve` as a child process; its output is drained so the pipe never fills."""

    def __init__(
        self,
        state_dir: Path,
        *,
        env: dict[str, str] | None = None,
        program: tuple[str, ...] = ("-m", "chatbot.cli"),
    ) -> None:
        """``env`` adds settings for this server; ``program`` is what Python runs before the
        ``serve`` arguments (the CLI, or a script that patches it first)."""
        self.port = _free_port()
        self.state_dir = state_dir
        self.url = f"http://127.0.0.1:{self.port}/"
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        # The embedded defaults whatever the developer's shell says (a real model, a limit).
        environment = {
            name: value for name, value in os.environ.items() if name not in _LEAKY_SETTINGS
        }
        environment |= {"CHATBOT_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
        # Every page of a test module connects from 127.0.0.1: the per-IP bounds would refuse
        # the eleventh session or the thirty-first message of a minute (tests/e2e/test_abuse.py
        # tests them at their defaults).
        environment |= {"SESSIONS_PER_IP_PER_MINUTE": "1000", "MESSAGES_PER_IP_PER_MINUTE": "1000"}
        environment |= env or {}
        self.process = subprocess.Popen(
            [
                *(sys.executable, *program, "serve"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"chatbot serve exited ({self.process.wait()}):\n{self.log()}")
            if self.url in line:
                return
        pytest.fail(f"chatbot serve printed no {self.url} within {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return "".join(self.output[-60:])

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Stop the server with ``signum`` and return its exit code."""
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        # The reader sees end-of-file once the process is gone; then the pipe can be closed.
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def running_server(state_dir: Path, timeout_s: float) -> Iterator[ServerProcess]:
    """A served gateway on ``state_dir`` for a fixture to yield, stopped afterwards."""
    process = ServerProcess(state_dir)
    try:
        process.wait_until_ready(timeout_s)
        yield process
    finally:
        process.stop()
