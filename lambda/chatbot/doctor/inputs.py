"""What doctor checks against: the CDK app's settings and the region a deploy would go to.

The settings are read the way the CDK app reads them (stacks/settings.py): cdk.json's
``context``, then ``-c key=value`` overrides, then the app's defaults. cdk.json is read
directly rather than through stacks/settings.py, which imports the jsii ``constructs``
runtime (a Node process) only to type its argument; doctor needs a few strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.doctor.findings import Finding, Status

# The defaults stacks/settings.py applies when cdk.json leaves a key out.
DEFAULT_CONTEXT: dict[str, str] = {
    "stage": "dev",
    "claudeModelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "embeddingModelId": "amazon.titan-embed-text-v2:0",
    "vectorStore": "opensearch",
}
# The CDK's default bootstrap qualifier (DefaultStackSynthesizer.DEFAULT_QUALIFIER); an app
# may choose another with this context key.
QUALIFIER_KEY = "@aws-cdk/core:bootstrapQualifier"
# The context keys that reserve Lambda concurrency (stacks/settings.py).
RESERVATION_KEYS = ("cleanupReservedConcurrency", "engineReservedConcurrency")
DEFAULT_QUALIFIER = "hnb659fds"


class InputError(ValueError):
    """A setting doctor cannot use; the message never repeats the value given."""


@dataclass(frozen=True)
class DeployInputs:
    stage: str
    claude_model_id: str
    embedding_model_id: str
    bootstrap_qualifier: str = DEFAULT_QUALIFIER
    # Concurrency the stack reserves, by context key (none unless asked for).
    reservations: tuple[tuple[str, int], ...] = ()
    # Checked (and an unknown one reported) by chatbot.doctor.store, not refused here.
    vector_store: str = "opensearch"

    @property
    def collection_name(self) -> str:
        # As the stack names it, settings.name("docs"), before its per-stack suffix.
        return f"chatbot-{self.stage}-docs"


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``-c key=value`` pairs, as the CDK CLI takes them."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("-c takes key=value")
        overrides[key.strip()] = value
    return overrides


def read_context(cdk_json: Path) -> dict[str, Any]:
    """cdk.json's ``context``; none when there is no cdk.json (doctor run elsewhere)."""
    if not cdk_json.is_file():
        return {}
    try:
        document = json.loads(cdk_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"cannot read {cdk_json.name}: not valid JSON") from None
    context = document.get("context", {}) if isinstance(document, dict) else {}
    return dict(context) if isinstance(context, dict) else {}


def deploy_inputs(context: Mapping[str, Any], overrides: Mapping[str, str]) -> DeployInputs:
    merged = {**DEFAULT_CONTEXT, **context, **overrides}
    stage = str(merged["stage"])
    if not stage.isalnum() or not stage.islower():
        raise InputError("stage must be lower-case letters and digits")
    return DeployInputs(
        stage=stage,
        claude_model_id=str(merged["claudeModelId"]),
        embedding_model_id=str(merged["embeddingModelId"]),
        bootstrap_qualifier=str(merged.get(QUALIFIER_KEY) or DEFAULT_QUALIFIER),
        reservations=tuple(
            (key, count) for key in RESERVATION_KEYS if (count := _count(key, merged.get(key, 0)))
        ),
        vector_store=str(merged["vectorStore"]),
    )


def _count(key: str, value: Any) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{key} must be a whole number") from None
    if count < 0:
        raise InputError(f"{key} must be 0 or more")
    return count


# The stack sets no env, so `cdk deploy` goes where the CDK CLI resolves a region: these
# variables in this order, then the profile's region, then us-east-1 (aws-cdk's
# DefaultAwsClient.region). boto3 reads AWS_DEFAULT_REGION and the profile, not AWS_REGION.
CDK_REGION_VARIABLES = (
    "AWS_REGION",
    "AMAZON_REGION",
    "AWS_DEFAULT_REGION",
    "AMAZON_DEFAULT_REGION",
)
CDK_FALLBACK_REGION = "us-east-1"


@dataclass(frozen=True)
class DeployRegion:
    region: str
    source: str


def cdk_deploy_region(environ: Mapping[str, str], profile_region: str | None) -> DeployRegion:
    for variable in CDK_REGION_VARIABLES:
        if environ.get(variable):
            return DeployRegion(environ[variable], variable)
    if profile_region:
        return DeployRegion(profile_region, "the AWS profile")
    return DeployRegion(CDK_FALLBACK_REGION, "the CDK's fallback")


def check_region(
    requested: str | None, environ: Mapping[str, str], profile_region: str | None
) -> tuple[str, Finding]:
    """The region to check (``--region``, else where a deploy would go) and whether a deploy
    would really go there."""
    deploy = cdk_deploy_region(environ, profile_region)
    region = requested or deploy.region
    if region != deploy.region:
        return region, Finding(
            "region",
            Status.FAIL,
            f"checking {region}, but make deploy would deploy to {deploy.region} "
            f"(from {deploy.source})",
            f"export AWS_REGION={region} AWS_DEFAULT_REGION={region} before make deploy",
        )
    aws_region, default_region = environ.get("AWS_REGION"), environ.get("AWS_DEFAULT_REGION")
    if aws_region and default_region and aws_region != default_region:
        return region, Finding(
            "region",
            Status.WARN,
            f"the stack deploys to {region} (AWS_REGION), but AWS_DEFAULT_REGION is "
            f"{default_region}: boto3 tools (chatbot ingest, scripts) would use that one",
            f"export AWS_DEFAULT_REGION={region}",
        )
    if deploy.source == "the CDK's fallback":
        return region, Finding(
            "region",
            Status.WARN,
            f"no region configured: the CDK would deploy to {region}",
            "export AWS_REGION=<region>, or set a region in the AWS profile",
        )
    return region, Finding("region", Status.OK, f"the stack deploys to {region} ({deploy.source})")
