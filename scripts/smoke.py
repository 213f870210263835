#!/usr/bin/env python3
"""After a deploy: ask the chatbot one question over its WebSocket and check the web page.

    python scripts/smoke.py --outputs cdk-outputs.json   # written by cdk deploy --outputs-file
    python scripts/smoke.py --url wss://HOST/STAGE [--web-url https://HOST/]

Where the stack signs users in (context userSignIn), give a user's ID token with --token or
in SMOKE_TOKEN; it travels as `token=` on the handshake and is never printed.

Exits 0 when every check passed, or when the outputs show sign-in and no token is given
(it says so, and how to run it with SMOKE_TOKEN); 1 with the reason on stderr when a check
failed, 2 on bad arguments. Standard library and websockets only, so it runs wherever the
CDK CLI does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection

DEFAULT_MESSAGE = "Hello! Please say hello back in one short sentence."
CONNECT_TIMEOUT = 15.0
HTTP_TIMEOUT = 15.0


class SmokeFailure(Exception):
    """A check failed; the message says which, in words for the person running the script."""


class SmokeSkipped(Exception):
    """Nothing can be checked without what the message names; not a failure of the stack."""


@dataclass(frozen=True)
class Target:
    websocket_url: str
    web_url: str | None
    stack: str | None = None
    # The stack has a user pool (UserPoolId output): connecting needs an ID token.
    signs_in: bool = False


@dataclass
class Answer:
    session_id: str
    resumed: bool
    deltas: list[str] = field(default_factory=list)
    content: str = ""
    query_type: str = ""
    sources: list[str] = field(default_factory=list)
    first_delta_s: float | None = None
    total_s: float = 0.0


def target_from_outputs(path: Path) -> Target:
    """The first stack in a `cdk deploy --outputs-file` file that has a WebSocketUrl."""
    try:
        outputs = json.loads(path.read_text())
    except FileNotFoundError:
        raise SmokeFailure(f"no outputs file at {path} (run cdk deploy --outputs-file)") from None
    except (OSError, ValueError) as error:
        raise SmokeFailure(f"cannot read {path} as JSON: {error}") from None
    if isinstance(outputs, dict):
        for stack, values in outputs.items():
            if isinstance(values, dict) and isinstance(values.get("WebSocketUrl"), str):
                web_url = values.get("WebUrl")
                return Target(
                    values["WebSocketUrl"],
                    web_url if isinstance(web_url, str) else None,
                    stack,
                    signs_in="UserPoolId" in values,
                )
    raise SmokeFailure(f"no stack in {path} has a WebSocketUrl output")


def ask(websocket_url: str, message: str, seconds: float, token: str | None = None) -> Answer:
    """One new session, one question, at most ``seconds`` from connecting to the answer."""

    async def bounded() -> Answer:
        async with asyncio.timeout(seconds):
            return await converse(websocket_url, message, token)

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        raise SmokeFailure(f"no final answer within {seconds:g} s") from None


async def converse(websocket_url: str, message: str, token: str | None = None) -> Answer:
    url = with_token(websocket_url, token) if token else websocket_url
    try:
        connection = await websockets.connect(url, open_timeout=CONNECT_TIMEOUT)
    except websockets.InvalidStatus as error:
        status = error.response.status_code
        hint = ""
        if status in (401, 403):
            hint = (
                ": is the token a current ID token of this stack's user pool?"
                if token
                else ": does the stack sign users in? Pass --token"
            )
        refused = f"{websocket_url} refused the connection (HTTP {status})"
        raise SmokeFailure(refused + hint) from None
    except (OSError, TimeoutError, websockets.InvalidURI, websockets.InvalidHandshake) as error:
        # The URL as given: never the one carrying the token.
        raise SmokeFailure(f"cannot connect to {websocket_url}: {error}") from None
    try:
        return await _converse(connection, message)
    except websockets.ConnectionClosed as error:
        raise SmokeFailure(f"the server closed the connection: {error}") from None
    finally:
        await connection.close()


def with_token(websocket_url: str, token: str) -> str:
    """The URL with `token=` added to its query (PROTOCOL.md: user sign-in)."""
    parts = urlsplit(websocket_url)
    query = [*parse_qsl(parts.query), ("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _converse(connection: ClientConnection, message: str) -> Answer:
    """Checks the frames against PROTOCOL.md on the way."""
    await _send(connection, {"action": "getSession"})
    session = await _expect(connection, "session")
    for name in ("sessionId", "sessionToken"):
        if not isinstance(session.get(name), str) or not session[name]:
            raise SmokeFailure(f"the session frame has no {name}: {session}")
    answer = Answer(session_id=session["sessionId"], resumed=bool(session.get("resumed")))

    message_id = f"smoke-{uuid.uuid4().hex[:16]}"
    started = time.monotonic()
    await _send(connection, {"action": "sendMessage", "messageId": message_id, "content": message})
    acknowledged = False
    while True:
        frame = await _receive(connection)
        if frame.get("messageId") != message_id:
            continue  # not about our message (none are expected, but the protocol allows it)
        kind = frame.get("type")
        if kind == "error":
            raise SmokeFailure(
                f"the chatbot answered with error {frame.get('code')}: {frame.get('message')}"
            )
        if kind == "ack":
            acknowledged = True
        elif kind == "delta":
            if frame.get("index") != len(answer.deltas):
                raise SmokeFailure(
                    f"delta {frame.get('index')} arrived where {len(answer.deltas)} was due"
                )
            if answer.first_delta_s is None:
                answer.first_delta_s = time.monotonic() - started
            answer.deltas.append(str(frame.get("content", "")))
        elif kind == "message":
            answer.total_s = time.monotonic() - started
            answer.content = str(frame.get("content", ""))
            answer.query_type = str(frame.get("queryType", ""))
            answer.sources = list(frame.get("sources") or [])
            break
    if not acknowledged:
        raise SmokeFailure("the answer came without an ack for the message")
    if not answer.content.strip():
        raise SmokeFailure("the final message is empty")
    if answer.deltas and "".join(answer.deltas) != answer.content:
        raise SmokeFailure("the deltas do not add up to the final message")
    return answer


async def _send(connection: ClientConnection, frame: dict[str, Any]) -> None:
    await connection.send(json.dumps(frame))


async def _receive(connection: ClientConnection) -> dict[str, Any]:
    raw = await connection.recv()
    try:
        frame = json.loads(raw)
    except ValueError:
        raise SmokeFailure(f"the server sent a frame that is not JSON: {raw!r:.200}") from None
    if not isinstance(frame, dict):
        raise SmokeFailure(f"the server sent a frame that is not an object: {frame!r:.200}")
    return frame


async def _expect(connection: ClientConnection, kind: str) -> dict[str, Any]:
    frame = await _receive(connection)
    if frame.get("type") == "error":
        raise SmokeFailure(f"the chatbot answered with error {frame.get('code')}: {frame}")
    if frame.get("type") != kind:
        raise SmokeFailure(f"expected a {kind} frame, got {frame}")
    return frame


def check_page(web_url: str, websocket_url: str) -> str:
    """The page is HTML; config.json, when there is one, names the WebSocket URL tested.

    Returns what config.json says, in words.
    """
    status, content_type, body = _get(web_url)
    if status != 200:
        raise SmokeFailure(f"{web_url} answered HTTP {status}")
    if "text/html" not in content_type and b"<html" not in body[:2048].lower():
        raise SmokeFailure(f"{web_url} did not return HTML (Content-Type: {content_type})")
    config_url = urljoin(web_url, "config.json")
    status, _, body = _get(config_url)
    if status == 404:
        # What the local gateway answers: the page then talks to the host that served it.
        return "no config.json (local mode)"
    if status != 200:
        raise SmokeFailure(f"{config_url} answered HTTP {status}")
    try:
        configured = json.loads(body).get("websocketUrl")
    except (ValueError, AttributeError):
        raise SmokeFailure(f"{config_url} is not a JSON object") from None
    if configured != websocket_url:
        raise SmokeFailure(f"{config_url} names {configured!r}, not {websocket_url!r}")
    return "config.json names this WebSocket URL"


def _get(url: str) -> tuple[int, str, bytes]:
    if urlsplit(url).scheme not in ("http", "https"):
        raise SmokeFailure(f"{url} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": "chatbot-smoke"})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - scheme checked above
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), b""
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SmokeFailure(f"cannot fetch {url}: {reason}") from None


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="smoke.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--outputs", type=Path, help="cdk deploy --outputs-file JSON")
    where.add_argument("--url", help="the WebSocket URL, wss://... (ws:// for a local gateway)")
    parser.add_argument("--web-url", help="the page's URL to check (default: WebUrl output)")
    parser.add_argument("--message", default=DEFAULT_MESSAGE, help="the question to ask")
    parser.add_argument(
        "--token",
        default=os.environ.get("SMOKE_TOKEN") or None,
        help="a signed-in user's ID token, where the stack signs users in (default: SMOKE_TOKEN)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)"
    )
    return parser.parse_args(argv)


def run(arguments: argparse.Namespace) -> list[str]:
    """Every check in turn; the summary lines, or SmokeFailure at the first that fails."""
    if arguments.outputs is not None:
        target = target_from_outputs(arguments.outputs)
    else:
        target = Target(arguments.url, None)
    if urlsplit(target.websocket_url).scheme not in ("ws", "wss"):
        raise SmokeFailure(f"{target.websocket_url} is not a ws:// or wss:// URL")
    if target.signs_in and not arguments.token:
        # `make deploy` runs this right after the deploy, when no user may exist yet: the
        # deploy itself succeeded, so say how to check it rather than fail it.
        raise SmokeSkipped(
            f"stack {target.stack} signs users in and no SMOKE_TOKEN is set. To run it: "
            f"SMOKE_TOKEN=<a user's ID token> python scripts/smoke.py --outputs "
            f"{arguments.outputs} (README: user sign-in says how to get a token)"
        )
    web_url = arguments.web_url or target.web_url
    answer = ask(target.websocket_url, arguments.message, arguments.timeout, arguments.token)
    first = f"{answer.first_delta_s:.2f} s" if answer.first_delta_s is not None else "no delta"
    lines = [
        f"Smoke test passed: {target.websocket_url}"
        + (f" (stack {target.stack})" if target.stack else ""),
        f"  session  {answer.session_id} ({'resumed' if answer.resumed else 'new'})",
        f"  answer   {len(answer.content)} characters in {len(answer.deltas)} deltas, "
        f"query type {answer.query_type or '?'}, {len(answer.sources)} sources; "
        f"first delta {first}, complete {answer.total_s:.2f} s",
        f"  reply    {_excerpt(answer.content)}",
    ]
    if arguments.token:
        lines.append("  sign-in  the handshake carried an ID token (accepted)")
    if web_url:
        config = check_page(web_url, target.websocket_url)
        lines.append(f"  web      {web_url} serves HTML; {config}")
    return lines


def _excerpt(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        lines = run(arguments)
    except SmokeFailure as failure:
        sys.stderr.write(f"Smoke test FAILED: {failure}\n")
        return 1
    except SmokeSkipped as skipped:
        sys.stdout.write(f"Smoke test SKIPPED: {skipped}\n")
        return 0
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
