"""Lambda cold start: handler import times, import to first answer, and bundle sizes.

    .venv/bin/python bench/cold_start.py [--runs 10] [--top 12] [--answers 3] [--no-bundles]
        [--check] [--output bench/results/cold_start.md]

1. Import: each Lambda handler module, and boto3 alone as the yardstick, imported in a fresh
   interpreter `--runs` times, the targets interleaved so that load from elsewhere on the
   machine falls on all of them alike; median and lowest. Twice: with the .pyc files this
   checkout has, and with none (an empty `-X pycache_prefix`, no writes), as a Lambda package
   is shipped (`pip --no-compile`, no __pycache__: /var/task is read-only, so every cold start
   compiles what it imports). Then `-X importtime`'s top `--top` modules by cumulative time.
2. First answer, on the embedded twin of the engine function (SQLite tables, the offline
   model, the local embedding model, the in-memory MCP transport): a fresh interpreter imports
   the engine handler, builds the engine as the handler does, and answers one stored message
   through `handle_event`, as the Lambda's first event would be. Per question route, and once
   with no shipped example vectors (the fallback: the router embeds its examples). Counted:
   example texts embedded (the budget: none), query embeddings, and the SDKs loaded.
3. Bundles: each Lambda package built as the stack builds it (`stacks.bundling.PipBundling`,
   pip for the Lambda platform, so the first run needs the package index), unzipped size.

`--check` exits 1 when a budget is exceeded: the engine handler's import (median) over twice
boto3's in the same run; any example embedded at cold start with the shipped vectors; a
bundle over Lambda's 250 MB unzipped.

The module imports only the standard library at the top: its `--child` runs are the cold
processes being measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HANDLERS = {
    "websocket": "chatbot.handlers.websocket",
    "engine": "chatbot.handlers.engine",
    "mcp": "chatbot.handlers.mcp",
    "cleanup": "chatbot.handlers.cleanup",
    "authorizer": "chatbot.handlers.authorizer",
    "search_index": "chatbot.handlers.search_index",
}
BASELINE = "boto3"
# Top-level packages worth naming when a cold process has loaded them.
HEAVY = ("boto3", "strands", "mcp", "opensearchpy", "torch")
QUESTIONS = {
    "general": "Hello! Could you write a short haiku about autumn?",
    "rag": "What does our travel policy say about hotel costs?",
    "mcp_tool": "Create a record titled groceries with the note buy milk",
}
AWS_TABLES = ("sessions", "connections", "conversations", "analytics", "limits")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
BUNDLE_CACHE = Path(tempfile.gettempdir()) / "chatbot-bench-bundles"


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: this checkout's code, nothing of the caller's configuration."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONPATH": os.pathsep.join([str(REPO / "lambda"), str(REPO)]),
        **(extra or {}),
    }


# --- 1. import times -----------------------------------------------------------------------


def import_ms(module: str, *, pyc: bool) -> float:
    """Milliseconds to import ``module`` in a fresh interpreter."""
    code = (
        "import time\n"
        "t = time.perf_counter()\n"
        f"import {module}\n"
        "print((time.perf_counter() - t) * 1000)"
    )
    flags: list[str] = []
    env = child_environment()
    if not pyc:
        empty = tempfile.mkdtemp(prefix="pycache-")
        flags = ["-X", f"pycache_prefix={empty}", "-B"]
    try:
        out = subprocess.run(
            [sys.executable, *flags, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        if not pyc:
            shutil.rmtree(empty, ignore_errors=True)
    return float(out.strip().splitlines()[-1])


def loaded_heavy(module: str) -> list[str]:
    code = f"import sys, json\nimport {module}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=child_environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    modules = set(json.loads(out.strip().splitlines()[-1]))
    return [name for name in HEAVY if name in modules]


def measure_imports(runs: int, no_pyc_runs: int) -> list[dict[str, Any]]:
    targets = {"boto3 (yardstick)": BASELINE, **HANDLERS}
    rows = []
    samples: dict[str, dict[bool, list[float]]] = {name: {True: [], False: []} for name in targets}
    # Warm the .pyc files and the page cache once, outside the samples.
    for module in targets.values():
        import_ms(module, pyc=True)
    for run in range(max(runs, no_pyc_runs)):
        for pyc in (True, False):
            if run >= (runs if pyc else no_pyc_runs):
                continue
            for name, module in targets.items():
                samples[name][pyc].append(import_ms(module, pyc=pyc))
    for name, module in targets.items():
        rows.append(
            {
                "name": name,
                "module": module,
                "median_ms": statistics.median(samples[name][True]),
                "min_ms": min(samples[name][True]),
                "no_pyc_median_ms": statistics.median(samples[name][False] or [0.0]),
                "loads": loaded_heavy(module),
            }
        )
    return rows


def import_breakdown(module: str, top: int) -> list[tuple[float, str]]:
    """The ``top`` modules by cumulative import time (ms) under ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=child_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[float, str]] = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match.group(1)) / 1000, match.group(3)))
    return sorted(rows, reverse=True)[:top]


# --- 2. first answer -------------------------------------------------------------------------


def first_answer_child(route: str, shipped: bool) -> dict[str, Any]:
    """In a fresh interpreter (this process): import, build, answer one message; the timings."""
    started = time.perf_counter()
    import chatbot.handlers.engine as handler

    imported = time.perf_counter()
    from chatbot import embeddings
    from chatbot.adapters.local.embeddings import LocalEmbeddings
    from chatbot.config import load_settings
    from chatbot.engine.factory import build_engine
    from chatbot.runtime import runtime_from_settings

    # Examples reach the model through the shared QueryCache's embed_documents (the router's
    # only use of it); queries are counted at the model, past the cache.
    counts = {"examples": 0, "queries": 0}
    embed_documents = embeddings.QueryCache.embed_documents
    embed_query = LocalEmbeddings.embed_query

    def counting_documents(self: Any, texts: Any) -> list[list[float]]:
        counts["examples"] += len(texts)
        return embed_documents(self, texts)

    def counting_query(self: Any, text: str) -> list[float]:
        counts["queries"] += 1
        return embed_query(self, text)

    embeddings.QueryCache.embed_documents = counting_documents  # type: ignore[method-assign]
    LocalEmbeddings.embed_query = counting_query  # type: ignore[method-assign]
    if not shipped:
        # A checkout from before shipped vectors has no such module: nothing to hide there.
        with contextlib.suppress(ImportError):
            from chatbot.engine import route_vectors

            nowhere = Path(tempfile.mkdtemp(prefix="no-vectors-"))
            route_vectors.shipped_folder = lambda: nowhere

    class Sender:
        frames: list[dict[str, Any]] = []  # noqa: RUF012 - one instance, this process only

        def post(self, connection_id: str, data: str) -> None:
            self.frames.append(json.loads(data))

        def delete(self, connection_id: str) -> None:
            pass

    settings = load_settings()
    runtime = runtime_from_settings(settings)
    sender = Sender()
    engine = build_engine(runtime, sender)
    built = time.perf_counter()
    session = runtime.sessions.create_session()
    runtime.sessions.bind_connection("c-1", session.sessionId, resumed=False)
    runtime.conversations.add_user_message(session.sessionId, "m-1", QUESTIONS[route])
    stored = time.perf_counter()
    result = handler.handle_event(
        {"sessionId": session.sessionId, "messageId": "m-1", "connectionId": "c-1"}, engine
    )
    answered = time.perf_counter()
    answer = runtime.conversations.get(session.sessionId, "m-1", "assistant")
    return {
        "route": route,
        "shipped": shipped,
        "answered": bool(result["answered"]) and answer is not None,
        "query_type": answer.queryType.value if answer and answer.queryType else None,
        "import_ms": (imported - started) * 1000,
        "build_ms": (built - imported) * 1000,
        "answer_ms": (answered - stored) * 1000,
        "total_ms": (answered - started - (stored - built)) * 1000,
        "examples_embedded": counts["examples"],
        "queries_embedded": counts["queries"],
        "loads": [name for name in HEAVY if name in sys.modules],
    }


def first_answer(route: str, shipped: bool) -> dict[str, Any]:
    state = tempfile.mkdtemp(prefix="cold-start-")
    try:
        env = child_environment(
            {
                "CHATBOT_ENV": "local",
                "CHATBOT_STATE_DIR": state,
                "CHATBOT_MODEL": "offline",
                "MCP_TRANSPORT": "memory",
                "ROUTER_MODE": "semantic",
                "HF_HUB_OFFLINE": "1",
            }
        )
        arguments = ["--child", route] + ([] if shipped else ["--no-shipped"])
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *arguments],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        shutil.rmtree(state, ignore_errors=True)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def measure_first_answers(repeats: int) -> list[dict[str, Any]]:
    rows = []
    scenarios = [(route, True) for route in QUESTIONS] + [("general", False)]
    for route, shipped in scenarios:
        runs = [first_answer(route, shipped) for _ in range(repeats if route == "general" else 1)]
        median_run = sorted(runs, key=lambda run: run["total_ms"])[len(runs) // 2]
        rows.append({**median_run, "runs": len(runs)})
    return rows


def aws_build_child() -> dict[str, Any]:
    """The engine function's own build, for AWS (fake credentials: no request leaves)."""
    started = time.perf_counter()
    import chatbot.handlers.engine as handler

    imported = time.perf_counter()
    handler._aws_engine()
    built = time.perf_counter()
    return {
        "import_ms": (imported - started) * 1000,
        "build_ms": (built - imported) * 1000,
        "loads": [name for name in HEAVY if name in sys.modules],
    }


def aws_build(repeats: int) -> dict[str, Any]:
    env = child_environment(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "CHATBOT_ENV": "aws",
            "CHATBOT_MODEL": "bedrock",
            "WEBSOCKET_API_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/dev",
            "MCP_TRANSPORT": "lambda",
            "MCP_SERVER_LAMBDA_ARN": "arn:aws:lambda:us-east-1:123456789012:function:mcp",
            "OPENSEARCH_ENDPOINT": "https://abc123.us-east-1.aoss.amazonaws.com",
            **{f"{name.upper()}_TABLE": name for name in AWS_TABLES},
        }
    )
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", "aws-build"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    median_run: dict[str, Any] = sorted(runs, key=lambda r: r["import_ms"] + r["build_ms"])[
        len(runs) // 2
    ]
    return {**median_run, "runs": len(runs)}


# --- 3. bundles ------------------------------------------------------------------------------


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


@contextlib.contextmanager
def quiet_stderr() -> Any:
    """pip's and jsii's notices go to a file, shown only if the step fails."""
    with tempfile.TemporaryFile("w+") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def measure_bundles() -> list[dict[str, Any]]:
    sys.path[:0] = [str(REPO / "lambda"), str(REPO)]
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    with quiet_stderr():
        from stacks import bundling

    rows = []
    for bundle in (bundling.LIGHT, bundling.SIGN_IN, bundling.FULL):
        folder = BUNDLE_CACHE / f"{bundle.name}-{bundle.fingerprint()[:16]}"
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            with quiet_stderr():
                bundling.PipBundling(bundle).try_bundle(str(folder))
            (folder / ".complete").write_text("")
        rows.append(
            {
                "name": bundle.name,
                "bytes": tree_bytes(folder),
                "chatbot_bytes": tree_bytes(folder / "chatbot"),
                "vectors_bytes": tree_bytes(folder / "chatbot" / "engine" / "route_vectors"),
            }
        )
    return rows


# --- report ----------------------------------------------------------------------------------


def budgets(
    imports: list[dict[str, Any]],
    answers: list[dict[str, Any]],
    built: dict[str, Any],
    bundles: list[dict[str, Any]],
) -> list[tuple[str, bool, str]]:
    by_name = {row["name"]: row for row in imports}
    baseline = by_name["boto3 (yardstick)"]["median_ms"]
    engine = by_name["engine"]["median_ms"]
    checks = [
        (
            "engine handler import <= 2 x boto3's",
            engine <= 2 * baseline,
            f"{engine:.0f} ms vs 2 x {baseline:.0f} ms",
        )
    ]
    shipped = [row for row in answers if row["shipped"]]
    embedded = sum(row["examples_embedded"] for row in shipped)
    checks.append(
        (
            "no example embedded at cold start (shipped vectors)",
            embedded == 0 and all(row["answered"] for row in shipped),
            f"{embedded} example texts embedded",
        )
    )
    late = [name for name in ("mcp", "opensearchpy") if name in built["loads"]]
    checks.append(
        (
            "the AWS engine, built, has loaded neither mcp nor opensearchpy",
            not late,
            f"loaded: {', '.join(built['loads']) or 'nothing heavy'}",
        )
    )
    for row in bundles:
        checks.append(
            (
                f"{row['name']} bundle <= 250 MB unzipped",
                row["bytes"] <= LAMBDA_UNZIPPED_LIMIT,
                f"{row['bytes'] / 1e6:.1f} MB",
            )
        )
    return checks


def report(
    command: str,
    imports: list[dict[str, Any]],
    breakdowns: dict[str, list[tuple[float, str]]],
    answers: list[dict[str, Any]],
    built: dict[str, Any],
    bundles: list[dict[str, Any]],
    checks: list[tuple[str, bool, str]],
    arguments: argparse.Namespace,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"nproc {os.cpu_count()}, Python {platform.python_version()}, {platform.machine()}"
    lines = [
        f"### {when}: `{command}` ({machine})",
        "",
        f"Import, fresh interpreter, median of {arguments.runs} (no .pyc: of "
        f"{arguments.no_pyc_runs}), targets interleaved:",
        "",
        "| handler module | median ms | min ms | no .pyc median ms | loads |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in imports:
        lines.append(
            f"| {row['name']} (`{row['module']}`) | {row['median_ms']:.0f} | {row['min_ms']:.0f} "
            f"| {row['no_pyc_median_ms']:.0f} | {', '.join(row['loads']) or '-'} |"
        )
    for name, rows in breakdowns.items():
        lines += ["", f"`-X importtime`, `{name}`, top {len(rows)} by cumulative ms:", ""]
        lines.append("| ms | module |")
        lines.append("| ---: | --- |")
        lines += [f"| {ms:.0f} | `{module}` |" for ms, module in rows]
    lines += [
        "",
        "First answer on the embedded twin (SQLite, offline model, local embeddings, "
        "in-memory MCP), fresh interpreter; general: median of "
        f"{answers[0]['runs'] if answers else 0}:",
        "",
        "| question | vectors | routed | import ms | build ms | answer ms | total ms "
        "| examples embedded | query embeds | loaded |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in answers:
        lines.append(
            f"| {row['route']} | {'shipped' if row['shipped'] else 'none (fallback)'} "
            f"| {row['query_type'] or 'unanswered'} | {row['import_ms']:.0f} "
            f"| {row['build_ms']:.0f} | {row['answer_ms']:.0f} | {row['total_ms']:.0f} "
            f"| {row['examples_embedded']} | {row['queries_embedded']} "
            f"| {', '.join(row['loads']) or '-'} |"
        )
    lines += [
        "",
        f"Engine function built for AWS, fake credentials, no request sent (median of "
        f"{built['runs']}): import {built['import_ms']:.0f} ms, build {built['build_ms']:.0f} ms, "
        f"loaded: {', '.join(built['loads']) or '-'}.",
    ]
    if bundles:
        lines += [
            "",
            "Bundles, unzipped, built as the stack builds them:",
            "",
            "| bundle | total MB | chatbot package kB | route vectors kB |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {row['name']} | {row['bytes'] / 1e6:.1f} | {row['chatbot_bytes'] / 1e3:.0f} "
            f"| {row['vectors_bytes'] / 1e3:.0f} |"
            for row in bundles
        ]
    lines += ["", "Budgets:", ""]
    lines += [f"- {'ok' if ok else 'OVER'}: {name} ({detail})" for name, ok, detail in checks]
    return "\n".join(lines) + "\n"


def timed(label: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    value = step()
    sys.stderr.write(f"{label}: {time.perf_counter() - started:.1f} s\n")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh imports per module")
    parser.add_argument("--top", type=int, default=12, help="rows of each -X importtime table")
    parser.add_argument("--answers", type=int, default=3, help="first answers (general) to run")
    parser.add_argument("--no-bundles", action="store_true", help="skip building the bundles")
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is over")
    parser.add_argument("--output", type=Path, help="append the report to this file")
    parser.add_argument(
        "--no-pyc-runs", type=int, default=3, help="fresh imports per module without .pyc"
    )
    parser.add_argument(
        "--child", choices=[*sorted(QUESTIONS), "aws-build"], help=argparse.SUPPRESS
    )
    parser.add_argument("--no-shipped", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child == "aws-build":
        print(json.dumps(aws_build_child()))
        return 0
    if arguments.child:
        print(json.dumps(first_answer_child(arguments.child, not arguments.no_shipped)))
        return 0
    imports = timed("imports", lambda: measure_imports(arguments.runs, arguments.no_pyc_runs))
    breakdowns = {
        module: import_breakdown(module, arguments.top)
        for module in (HANDLERS["engine"], HANDLERS["mcp"])
    }
    answers = timed("first answers", lambda: measure_first_answers(arguments.answers))
    built = timed("aws build", lambda: aws_build(arguments.answers))
    bundles = [] if arguments.no_bundles else timed("bundles", measure_bundles)
    checks = budgets(imports, answers, built, bundles)
    command = "python bench/cold_start.py " + " ".join(sys.argv[1:])
    text = report(command.strip(), imports, breakdowns, answers, built, bundles, checks, arguments)
    print(text)
    if arguments.output:
        with arguments.output.open("a", encoding="utf-8") as output:
            output.write("\n" + text)
    over = [name for name, ok, _ in checks if not ok]
    if arguments.check and over:
        sys.stderr.write(f"over budget: {'; '.join(over)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
