"""`chatbot serve` as a person runs it: prints the URL, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.e2e.served import ServerProcess

pytestmark = pytest.mark.e2e


def test_serve_prints_its_url_answers_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "state")
    try:
        server.wait_until_ready(60)
        with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=10) as ws:
            ws.send(json.dumps({"action": "ping"}))
            assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
    finally:
        exit_code = server.stop(signal.SIGINT)
    output = "".join(server.output)
    assert exit_code == 0, output
    assert "Stopping" in output
    assert "Traceback" not in output
    assert (tmp_path / "state" / "chatbot.sqlite3").exists()
    assert (tmp_path / "state").stat().st_mode & 0o077 == 0
    # Each request is one structured log line (beside others: the engine workers' start).
    logged = [json.loads(line) for line in server.output if line.startswith("{")]
    routes = [record["route"] for record in logged if "route" in record]
    assert routes[:2] == ["$connect", "ping"]


def test_serve_says_so_when_the_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "chatbot.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "CHATBOT_STATE_DIR": str(tmp_path / "state")},
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
