"""The ``chatbot`` command, the front door for people: run the chatbot or its MCP server,
ingest documents, evaluate, report on usage and cost, and check an AWS account before deploying."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.clock import SystemClock
from chatbot.config import load_settings

if TYPE_CHECKING:
    from chatbot.config import Settings
    from chatbot.embeddings import Embeddings
    from chatbot.ingest.pipeline import DocumentStore

# `chatbot eval SUITE`: the module whose main(argv) runs each suite, imported only when asked.
EVAL_SUITES = {
    "retrieval": "chatbot.evaluation.retrieval",
    "chunking": "chatbot.evaluation.chunking",
    "routing": "chatbot.evaluation.routing",
}

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
        type=_owner_name,
        default=None,
        help="act for this owner on every call (a person's MCP client); a call whose _meta "
        "names an owner is refused. Without it, every call needs the owner claim the chatbot "
        "engine signs (how the engine's stdio transport runs this command)",
    )
    _add_ingest_parser(commands)
    evaluation = commands.add_parser(
        "eval",
        help="measure the chatbot: `chatbot eval retrieval --help`",
        description="Evaluations that print a table and can append it to bench/results/.",
    )
    evaluation.add_argument("suite", choices=sorted(EVAL_SUITES), help="what to evaluate")
    evaluation.add_argument("options", nargs=argparse.REMAINDER, help="the suite's own options")
    chat = commands.add_parser(
        "chat", help="talk to the chatbot in the terminal (the local one, or a deployed wss://)"
    )
    chat.add_argument(
        "url",
        nargs="?",
        default="ws://127.0.0.1:8080/",
        help="WebSocket URL (default: %(default)s)",
    )
    chat.add_argument("--token", default=None, help="an ID token, where sign-in is on")
    commands.add_parser(
        "doctor",
        help="before deploying: what this AWS account and region lack, with fixes",
        add_help=False,
    )
    commands.add_parser(
        "analytics",
        help="usage reports for analysts: `chatbot analytics --help`",
        add_help=False,
    )
    commands.add_parser(
        "cost",
        help="what 1,000 conversations cost in AWS, line by line: `chatbot cost --help`",
        add_help=False,
    )
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["doctor"]:
        # Its own parser (--region, --stage, -c key=value, --format).
        from chatbot.doctor.command import main as doctor

        return doctor(arguments[1:])
    if arguments[:1] == ["analytics"]:
        # Its own parser, with its own subcommands and --help.
        from chatbot.analytics_cli import main as analytics

        return analytics(arguments[1:])
    if arguments[:1] == ["cost"]:
        from chatbot.cost.command import main as cost

        return cost(arguments[1:])
    args = parser.parse_args(arguments)
    if args.command == "eval":
        module = importlib.import_module(EVAL_SUITES[args.suite])
        status: int = module.main(args.options)
        return status
    if args.command == "ingest":
        if not args.paths and not args.delete:
            parser.error("ingest needs a PATH to ingest or --delete SOURCE")
        return _ingest(args)
    if args.command == "mcp":
        return asyncio.run(_mcp(args.owner))
    if args.command == "chat":
        from chatbot.terminal.client import TerminalChat
        from chatbot.terminal.saved_sessions import SavedSessions

        saved = SavedSessions(load_settings().state_dir)
        return asyncio.run(TerminalChat(args.url, saved, token=args.token).run())
    if args.command == "serve":
        web_dir = args.web_dir if args.web_dir.is_dir() else None
        return asyncio.run(_serve(args.host, args.port, web_dir))
    return 2


def _add_ingest_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Imported here so that `chatbot --help` stays quick; the defaults are plain numbers.
    from chatbot.ingest.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
    from chatbot.ingest.pipeline import DEFAULT_BATCH_SIZE

    ingest = commands.add_parser(
        "ingest",
        help="add Markdown, text, HTML and PDF files (or folders of them) to the document index",
        description="Re-ingesting changes only what changed: unchanged chunks are neither "
        "embedded nor written again; chunks a file no longer has are removed.",
    )
    ingest.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="file or folder")
    ingest.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="N",
        help="most characters in a chunk (default: %(default)s)",
    )
    ingest.add_argument(
        "--overlap",
        type=int,
        default=DEFAULT_OVERLAP,
        metavar="N",
        help="characters a chunk repeats from the one before (default: %(default)s)",
    )
    ingest.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="texts per call to the embedding model (default: %(default)s)",
    )
    ingest.add_argument(
        "--delete",
        action="append",
        default=[],
        metavar="SOURCE",
        help="remove the document with this source: its path as ingested (docs/guide.md for a "
        "file found in folder docs, the path as given for a file named directly); repeatable",
    )


def _ingest(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from chatbot.adapters.local.document_store import SQLiteDocumentStore
    from chatbot.adapters.local.documents import SQLiteDocumentIndex
    from chatbot.adapters.local.private_files import private_directory
    from chatbot.config import Environment
    from chatbot.embeddings import embeddings_from_settings
    from chatbot.errors import ChatbotError

    try:
        settings = load_settings()
    except ValidationError as error:
        # A setting refused (VECTOR_STORE=s3vectors without S3VECTORS_BUCKET): its message.
        for problem in error.errors():
            sys.stderr.write(f"chatbot ingest: {problem['msg'].removeprefix('Value error, ')}\n")
        return 2
    if settings.chatbot_env is Environment.AWS and settings.vector_store == "s3vectors":
        # The deployed vector bucket's index, with Titan (S3VECTORS_BUCKET is the stack's
        # VectorBucketName output; the settings refuse s3vectors without it).
        return _ingest_into_s3vectors(args, settings)
    if settings.chatbot_env is Environment.AWS and settings.opensearch_endpoint:
        # The deployed collection, with Titan: nothing local is opened or written.
        return _ingest_into_opensearch(args, settings)
    # Private, as the other commands make it: the state folder also holds the session secret.
    private_directory(settings.state_dir)
    index = SQLiteDocumentIndex(settings.documents_path)
    try:
        embeddings = embeddings_from_settings(settings)
        store = SQLiteDocumentStore(index, model_id=embeddings.model_id)
        return _run_ingest(args, store, embeddings)
    except ChatbotError as error:
        sys.stderr.write(f"chatbot ingest: {error}\n")
        return 1
    finally:
        index.close()


def _ingest_into_opensearch(args: argparse.Namespace, settings: Settings) -> int:
    """``chatbot ingest`` with CHATBOT_ENV=aws: into the collection at OPENSEARCH_ENDPOINT."""
    from opensearchpy.exceptions import OpenSearchException

    from chatbot.adapters.aws.document_store import OpenSearchDocumentStore
    from chatbot.adapters.aws.opensearch import OpenSearchDocumentIndex, opensearch_client
    from chatbot.embeddings import embeddings_from_settings
    from chatbot.errors import ChatbotError

    assert settings.opensearch_endpoint is not None
    try:
        client = opensearch_client(
            settings.opensearch_endpoint, settings.opensearch_region or settings.aws_region
        )
    except ValueError as error:
        sys.stderr.write(f"chatbot ingest: {error}\n")
        return 2
    try:
        embeddings = embeddings_from_settings(settings)
    except ChatbotError as error:
        sys.stderr.write(f"chatbot ingest: {error}\n")
        return 1
    index = OpenSearchDocumentIndex(
        client, settings.opensearch_index, embeddings, clock=SystemClock()
    )
    store = OpenSearchDocumentStore(index, model_id=embeddings.model_id)
    # A 403 means this identity is not in the collection's data access policy (the stack's
    # ingestPrincipalArns) or lacks aoss:APIAccessAll in IAM.
    return _run_ingest(args, store, embeddings, errors=(OpenSearchException,))


def _ingest_into_s3vectors(args: argparse.Namespace, settings: Settings) -> int:
    """``chatbot ingest`` with CHATBOT_ENV=aws and VECTOR_STORE=s3vectors: into the index
    S3VECTORS_INDEX of the vector bucket S3VECTORS_BUCKET."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chatbot.adapters.aws.s3vectors import S3VectorsDocumentStore, s3vectors_client
    from chatbot.embeddings import embeddings_from_settings
    from chatbot.errors import ChatbotError

    assert settings.s3vectors_bucket is not None
    try:
        embeddings = embeddings_from_settings(settings)
    except ChatbotError as error:
        sys.stderr.write(f"chatbot ingest: {error}\n")
        return 1
    store = S3VectorsDocumentStore(
        s3vectors_client(settings.s3vectors_region or settings.aws_region),
        bucket=settings.s3vectors_bucket,
        index=settings.s3vectors_index,
        embeddings=embeddings,
        clock=SystemClock(),
    )
    # An AccessDenied means this identity may not write the index: check S3VECTORS_BUCKET
    # against the stack's VectorBucketName output, and the identity's s3vectors:PutVectors.
    return _run_ingest(args, store, embeddings, errors=(ClientError, BotoCoreError))


def _run_ingest(
    args: argparse.Namespace,
    store: DocumentStore,
    embeddings: Embeddings,
    *,
    errors: tuple[type[Exception], ...] = (),
) -> int:
    from chatbot.errors import ChatbotError
    from chatbot.ingest.command import run_delete, run_ingest
    from chatbot.ingest.pipeline import Ingestor

    try:
        ingestor = Ingestor(
            store,
            embeddings,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            overlap=args.overlap,
        )
    except ValueError as error:
        sys.stderr.write(f"chatbot ingest: {error}\n")
        return 2
    caught: tuple[type[Exception], ...] = (ChatbotError, *errors)
    try:
        status = run_delete(ingestor, args.delete, stdout=sys.stdout, stderr=sys.stderr)
        if args.paths:
            status = (
                run_ingest(ingestor, args.paths, stdout=sys.stdout, stderr=sys.stderr) or status
            )
        return status
    except caught as error:
        # The model is missing, or the embedding service or the index refused: what was
        # written stays, and a re-run carries on from there.
        sys.stderr.write(f"chatbot ingest: {error}\n")
        return 1


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
    # asyncio has no signal handlers on Windows; there Ctrl-C ends the loop by itself.
    if sys.platform != "win32":
        for signum in (signal.SIGINT, signal.SIGTERM):
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


def _owner_name(value: str) -> str:
    from chatbot.tools.owner_claim import MAX_OWNER_CHARS

    if not 0 < len(value) <= MAX_OWNER_CHARS:
        raise argparse.ArgumentTypeError(f"an owner must be 1 to {MAX_OWNER_CHARS} characters")
    return value


async def _mcp(owner: str | None) -> int:
    from mcp.server.stdio import stdio_server

    from chatbot.config import Environment
    from chatbot.mcp_server import server_from_settings
    from chatbot.mcp_transports import serve
    from chatbot.redaction import redact_standard_logging

    # stdout carries the protocol: logs must go to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    redact_standard_logging()
    settings = load_settings()
    if settings.chatbot_env is Environment.LOCAL:
        from chatbot.adapters.local.private_files import private_directory

        # The owner-claim key may be made on first use: in a private state folder.
        private_directory(settings.state_dir)
    server = server_from_settings(settings, clock=SystemClock(), fixed_owner=owner)
    async with stdio_server() as (read_stream, write_stream):
        await serve(server, read_stream, write_stream)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
