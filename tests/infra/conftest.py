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


@dataclass
class Synthesized:
    stack: Any
    template: Template
    json: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource
            for name, resource in self.json["Resources"].items()
            if resource["Type"] == resource_type
        }


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


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize({}, tmp_path_factory.mktemp("cdk.out"))
