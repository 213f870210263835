"""Whole-template checks: cfn-lint, cdk-nag acknowledgments, settings from context, the real CLI."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.infra.conftest import REPO, Synthesized, assert_cfn_lint_clean, synthesize


def test_cfn_lint_finds_no_error_in_the_template(synthesized: Synthesized) -> None:
    assert_cfn_lint_clean(synthesized.json, allowed_warnings={"W3005"})


def test_every_cdk_nag_acknowledgment_in_the_code_gives_a_reason() -> None:
    # Synth already fails on any finding not acknowledged; here: none is acknowledged bare.
    sources = [*REPO.joinpath("stacks").rglob("*.py")]
    for source in sources:
        text = source.read_text()
        for call in text.split("Acknowledgment(")[1:]:
            assert "reason=" in call.split(")\n")[0], (
                f"{source.name}: an acknowledgment without reason"
            )


def test_context_settings_change_the_deployment(tmp_path: Path) -> None:
    prod = synthesize(
        {
            "stage": "prod",
            "retainData": "true",
            "sessionTimeoutMinutes": "15",
            "cleanupRateMinutes": "2",
            "claudeModelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
        },
        tmp_path,
    )
    assert prod.stack.stack_name == "Chatbot-prod"
    for table in prod.resources("AWS::DynamoDB::GlobalTable").values():
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is True
    [rule] = prod.resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(2 minutes)"
    [stage] = prod.resources("AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "prod"
    timeouts = {
        f["Properties"]["Environment"]["Variables"].get("SESSION_TIMEOUT_MINUTES")
        for f in prod.resources("AWS::Lambda::Function").values()
        if "Environment" in f["Properties"]
    }
    assert "15" in timeouts
    # A model id without a geography prefix is invoked directly, in the stack's region.
    rendered = json.dumps(prod.json)
    assert "foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" in rendered
    assert "inference-profile" not in rendered


@pytest.mark.parametrize(
    ("key", "value"), [("stage", "Prod_1"), ("retainData", "maybe"), ("logRetentionDays", "10")]
)
def test_bad_context_values_are_refused_with_a_clear_message(
    tmp_path: Path, key: str, value: str
) -> None:
    with pytest.raises(ValueError, match=key):
        synthesize({key: value}, tmp_path)


def test_the_real_cdk_cli_synthesizes_and_bundles_without_docker(tmp_path: Path) -> None:
    cdk = REPO / "node_modules" / ".bin" / "cdk"
    assert cdk.exists(), "run `make test` (it installs the pinned CDK CLI with npm)"
    outdir = tmp_path / "cdk.out"
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "PATH": "/nonexistent-docker:" + os.environ["PATH"],
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            str(cdk),
            "synth",
            "--app",
            f"{REPO / '.venv' / 'bin' / 'python'} app.py",
            "--output",
            str(outdir),
            "--quiet",
            "--no-notices",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert shutil.which("docker") is None or "docker" not in result.stderr.lower()
    manifest = json.loads((outdir / "Chatbot-dev.assets.json").read_text())
    bundles = {
        path.name: sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        for path in outdir.glob("asset.*")
        if (path / "chatbot").is_dir()
    }
    # Two packages: the light one (websocket handler, cleanup) and the full one.
    assert len(bundles) == 2, bundles
    light, full = sorted(bundles.values())
    assert light < 20 * 1024 * 1024, "the websocket handler's package must stay small"
    assert full < 250 * 1024 * 1024, "Lambda's unzipped limit"
    light_dir = next(outdir / name for name, size in bundles.items() if size == light)
    assert not (light_dir / "strands").exists() and not (light_dir / "boto3").exists()
    assert (light_dir / "chatbot" / "handlers" / "websocket.py").exists()
    # The functions that search (engine, MCP server) carry the pinned boto3, not the
    # runtime's copy: its s3vectors model must know QueryVectors' text search (queryTexts).
    full_dir = next(outdir / name for name, size in bundles.items() if size == full)
    [model] = (full_dir / "botocore" / "data" / "s3vectors").glob("*/service-2.json*")
    raw = model.read_bytes()
    text = (gzip.decompress(raw) if model.suffix == ".gz" else raw).decode()
    query = json.loads(text)["shapes"]["QueryVectorsInput"]["members"]
    assert "queryTexts" in query, "the bundled botocore predates S3 Vectors text search"
    assert manifest["files"], "assets are listed for deployment"
    seconds = time.monotonic() - started
    print(f"cdk synth {seconds:.0f}s, light {light / 1e6:.1f} MB, full {full / 1e6:.1f} MB")
