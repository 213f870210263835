"""scripts/smoke.py as an operator runs it after a deploy, here against the real local gateway."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from tests.e2e.served import ServerProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scripts" / "smoke.py"
SESSION_ID = r"[0-9a-f-]{36}"


@pytest.fixture(scope="module")
def gateway_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`chatbot serve` on a fresh state folder, for the whole module."""
    server = ServerProcess(tmp_path_factory.mktemp("state"))
    try:
        server.wait_until_ready(60)
        yield server.port
    finally:
        server.stop()


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``static_site(websocket_url)``: web/ plus a config.json, as the CDK deploys them."""
    servers: list[ThreadingHTTPServer] = []

    def serve(websocket_url: str) -> str:
        site = tmp_path / f"site{len(servers)}"
        shutil.copytree(REPO / "web", site)
        (site / "config.json").write_text(json.dumps({"websocketUrl": websocket_url}))
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def smoke(*arguments: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """The script as an operator runs it; ``token`` goes in SMOKE_TOKEN (never inherited)."""
    env = {name: value for name, value in os.environ.items() if name != "SMOKE_TOKEN"}
    if token is not None:
        env["SMOKE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, str(SMOKE), *arguments],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
    )


@pytest.fixture
def refusing_api() -> Iterator[tuple[str, list[str]]]:
    """A WebSocket endpoint that refuses every handshake (403), as an authorizer's Deny does;
    yields its URL and the request paths it saw."""
    seen: list[str] = []

    def refuse(connection: ServerConnection, request: Request) -> Response:
        seen.append(request.path)
        return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")

    with serve(lambda _: None, "127.0.0.1", 0, process_request=refuse) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/dev", seen
        server.shutdown()


def test_smoke_passes_against_a_websocket_url(gateway_port: int) -> None:
    url = f"ws://127.0.0.1:{gateway_port}/"
    result = smoke("--url", url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Smoke test passed: {url}"
    assert re.fullmatch(rf"  session  {SESSION_ID} \(new\)", lines[1])
    # The offline model streams its answer in several deltas; the script checked they add up.
    answer = re.fullmatch(
        r"  answer   (\d+) characters in (\d+) deltas, query type general, 0 sources; "
        r"first delta \d+\.\d\d s, complete \d+\.\d\d s",
        lines[2],
    )
    assert answer, lines[2]
    assert int(answer.group(1)) > 0
    assert int(answer.group(2)) > 1
    assert lines[3].startswith("  reply    I am the offline assistant")
    assert len(lines) == 4  # no web URL given, so no page check
    assert result.stderr == ""


def test_smoke_reads_the_first_stack_with_a_websocket_url_from_cdk_outputs(
    gateway_port: int, tmp_path: Path
) -> None:
    outputs = tmp_path / "cdk-outputs.json"
    base = f"127.0.0.1:{gateway_port}/"
    outputs.write_text(
        json.dumps(
            {
                "Chatbot-certificates": {"CertificateArn": "arn:aws:acm:us-east-1:1:certificate/x"},
                "Chatbot-dev": {"WebSocketUrl": f"ws://{base}", "WebUrl": f"http://{base}"},
                "Chatbot-prod": {"WebSocketUrl": "ws://127.0.0.1:9/", "WebUrl": "http://x/"},
            }
        )
    )
    result = smoke("--outputs", str(outputs))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Smoke test passed: ws://{base} (stack Chatbot-dev)"
    # The local gateway serves the page but no config.json: the page's local mode.
    assert lines[-1] == f"  web      http://{base} serves HTML; no config.json (local mode)"


def test_smoke_checks_that_the_deployed_config_json_names_the_websocket_url(
    gateway_port: int, static_site: Callable[[str], str]
) -> None:
    url = f"ws://127.0.0.1:{gateway_port}/"
    page = static_site(url)
    result = smoke("--url", url, "--web-url", page)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"  web      {page} serves HTML; config.json names this WebSocket URL"
    )


def test_smoke_fails_when_config_json_names_another_websocket_url(
    gateway_port: int, static_site: Callable[[str], str]
) -> None:
    url = f"ws://127.0.0.1:{gateway_port}/"
    page = static_site("wss://stale.execute-api.us-east-1.amazonaws.com/dev")
    result = smoke("--url", url, "--web-url", page)
    assert result.returncode == 1
    assert result.stderr == (
        f"Smoke test FAILED: {page}config.json names "
        f"'wss://stale.execute-api.us-east-1.amazonaws.com/dev', not {url!r}\n"
    )


def test_smoke_fails_cleanly_when_nothing_listens(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Closed now: connections to it are refused.
    result = smoke("--url", f"ws://127.0.0.1:{port}/", "--timeout", "20")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Smoke test FAILED: cannot connect to ws://127.0.0.1:{port}/")
    assert "Traceback" not in result.stderr


def test_smoke_fails_cleanly_when_no_stack_has_a_websocket_url(tmp_path: Path) -> None:
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(json.dumps({"Chatbot-dev": {"WebUrl": "https://d111.cloudfront.net/"}}))
    result = smoke("--outputs", str(outputs))
    assert result.returncode == 1
    assert result.stderr == f"Smoke test FAILED: no stack in {outputs} has a WebSocketUrl output\n"


# --- user sign-in ----------------------------------------------------------------------------


def test_smoke_with_a_token_passes_and_says_the_handshake_carried_it(gateway_port: int) -> None:
    # The local gateway has no sign-in and ignores `token=`, as an API without an authorizer.
    result = smoke("--url", f"ws://127.0.0.1:{gateway_port}/", token="eyJ.secret.token")
    assert result.returncode == 0, result.stderr
    assert "  sign-in  the handshake carried an ID token (accepted)" in result.stdout.splitlines()
    assert "secret" not in result.stdout + result.stderr


def test_smoke_sends_the_token_as_a_query_parameter_and_never_prints_it(
    refusing_api: tuple[str, list[str]],
) -> None:
    url, seen = refusing_api
    result = smoke("--url", f"{url}?lang=en", "--token", "eyJ.secret+token/=")
    assert seen == ["/dev?lang=en&token=eyJ.secret%2Btoken%2F%3D"]
    assert result.returncode == 1
    assert result.stderr == (
        f"Smoke test FAILED: {url}?lang=en refused the connection (HTTP 403): "
        "is the token a current ID token of this stack's user pool?\n"
    )
    assert "secret" not in result.stdout + result.stderr


def test_smoke_refused_without_a_token_suggests_one(refusing_api: tuple[str, list[str]]) -> None:
    url, seen = refusing_api
    result = smoke("--url", url)
    assert seen == ["/dev"]
    assert result.stderr.endswith("(HTTP 403): does the stack sign users in? Pass --token\n")


def signed_in_outputs(tmp_path: Path, websocket_url: str) -> Path:
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "Chatbot-dev": {
                    "WebSocketUrl": websocket_url,
                    "UserPoolId": "us-east-1_Pool123",
                    "UserPoolClientId": "client",
                }
            }
        )
    )
    return outputs


def test_smoke_skips_and_says_how_to_run_it_when_the_stack_signs_users_in_and_no_token_is_set(
    refusing_api: tuple[str, list[str]], tmp_path: Path
) -> None:
    # `make deploy` must not fail on it: the deploy worked, only the check needs a user.
    url, seen = refusing_api
    outputs = signed_in_outputs(tmp_path, url)
    result = smoke("--outputs", str(outputs))
    assert result.returncode == 0
    assert result.stdout == (
        "Smoke test SKIPPED: stack Chatbot-dev signs users in and no SMOKE_TOKEN is set. To run "
        f"it: SMOKE_TOKEN=<a user's ID token> python scripts/smoke.py --outputs {outputs} "
        "(README: user sign-in says how to get a token)\n"
    )
    assert result.stderr == ""
    assert seen == []  # it did not even try to connect


def test_smoke_with_a_token_checks_a_stack_that_signs_users_in(
    refusing_api: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = refusing_api
    result = smoke("--outputs", str(signed_in_outputs(tmp_path, url)), token="id-token")
    assert result.returncode == 1
    assert seen == ["/dev?token=id-token"]
    assert "id-token" not in result.stdout + result.stderr
