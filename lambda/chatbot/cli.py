"""The ``chatbot`` command, the front door for people: run the chatbot or its MCP server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from chatbot.config import load_settings

# web/ sits beside lambda/ in the repository; an installed copy can point elsewhere.
DEFAULT_WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the chatbot locally: WebSocket + web page")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8080, help="port, 0 for any free one (default: %(default)s)"
    )
    serve.add_argument(
        "--web-dir", type=Path, default=DEFAULT_WEB_DIR, help="static files to serve"
    )
    mcp = commands.add_parser(
        "mcp", help="run the MCP server (document search, record tools) over stdio"
    )
    mcp.add_argument(
        "--owner",
        default="local-cli",
        help="session that owns the records when the client sends none (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.command == "mcp":
        return asyncio.run(_mcp(args.owner))
    if args.command == "serve":
        web_dir = args.web_dir if args.web_dir.is_dir() else None
        return asyncio.run(_serve(args.host, args.port, web_dir))
    return 2


async def _serve(host: str, port: int, web_dir: Path | None) -> int:
    # Imported here so that `chatbot --help` stays quick.
    from chatbot.adapters.local.gateway import local_gateway

    settings = load_settings()
    gateway = local_gateway(settings, host=host, port=port, web_dir=web_dir)
    try:
        await gateway.start()
    except OSError as error:
        sys.stderr.write(f"chatbot: cannot listen on {host}:{port}: {error.strerror}\n")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    sys.stdout.write(
        f"Chatbot running at {gateway.url} (WebSocket ws://{gateway.host}:{gateway.port}/, "
        f"model: {settings.model_provider}, state: {settings.state_dir.resolve()}). "
        "Press Ctrl-C to stop.\n"
    )
    sys.stdout.flush()
    await stop.wait()
    sys.stdout.write("Stopping...\n")
    await gateway.stop()
    return 0


async def _mcp(owner: str) -> int:
    from mcp.server.stdio import stdio_server

    from chatbot.mcp_server import server_from_settings

    # stdout carries the protocol: logs must go to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    server = server_from_settings(load_settings(), default_owner=owner)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
