"""One synthesized template for the whole test session (synth is slow), with cdk-nag on."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Node 20 is what this machine has; jsii's banner about it is not a finding.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

import aws_cdk as cdk
from aws_cdk.assertions import Template

REPO = Path(__file__).resolve().parents[2]


class TemplateResources:
    """Resources of a synthesized template (``self.json``) by type, for the test views below
    and in the construct tests."""

    json: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource
            for name, resource in self.json["Resources"].items()
            if resource["Type"] == resource_type
        }


@dataclass
class Synthesized(TemplateResources):
    stack: Any
    template: Template
    json: dict[str, Any]


def synthesize(extra_context: dict[str, Any], outdir: Path) -> Synthesized:
    from app import build_app

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    # Tests assert on the template, not on the packages: skip pip bundling here. The real
    # CLI bundles in tests/infra/test_cli_synth.py.
    app = cdk.App(
        outdir=str(outdir),
        context={**context, **extra_context, "aws:cdk:bundling-stacks": []},
    )
    stack = build_app(app)
    app.synth()  # raises on any unacknowledged cdk-nag finding
    template = Template.from_stack(stack)
    return Synthesized(stack, template, template.to_json())


def construct_test_app(outdir: Path) -> cdk.App:
    """An app for one construct's tests: cdk.json's feature flags, no bundling, cdk-nag on."""
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    flags = {
        key: value
        for key, value in json.loads((REPO / "cdk.json").read_text())["context"].items()
        if key.startswith("@aws-cdk")
    }
    app = cdk.App(outdir=str(outdir), context={**flags, "aws:cdk:bundling-stacks": []})
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def assert_cfn_lint_clean(template: dict[str, Any], allowed_warnings: set[str]) -> None:
    """No cfn-lint error, and no warning beyond those named (with the reason at the caller)."""
    import cfnlint.api

    matches = cfnlint.api.lint(json.dumps(template), regions=["us-east-1"])
    assert [str(match) for match in matches if match.rule.id.startswith("E")] == []
    assert {match.rule.id for match in matches} <= allowed_warnings | {"E"}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize({}, tmp_path_factory.mktemp("cdk.out"))
