"""``chatbot doctor``: parse the flags, make the clients, run every check, print the findings."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from chatbot.doctor.account import check_credentials
from chatbot.doctor.bedrock import check_inference_profile, check_model_access
from chatbot.doctor.bootstrap import check_bootstrap
from chatbot.doctor.findings import Finding, exit_status, render_json, render_text
from chatbot.doctor.inputs import (
    DeployInputs,
    InputError,
    check_region,
    deploy_inputs,
    parse_overrides,
    read_context,
)
from chatbot.doctor.quotas import check_lambda_concurrency, check_opensearch
from chatbot.doctor.store import VectorBucketLister, check_s3vectors_buckets, check_vector_store

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_opensearchserverless import OpenSearchServiceServerlessClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient


@dataclass(frozen=True)
class Clients:
    """Every AWS client the checks call, for one region."""

    sts: STSClient
    ssm: SSMClient
    cloudformation: CloudFormationClient
    bedrock: BedrockClient
    lambda_: LambdaClient
    aoss: OpenSearchServiceServerlessClient
    s3vectors: VectorBucketLister


def clients_for(session: boto3.Session, region: str) -> Clients:
    from botocore.config import Config

    # Few attempts, short timeouts: a preflight that hangs on an unreachable endpoint helps no one.
    config = Config(
        retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=15
    )
    return Clients(
        sts=session.client("sts", region_name=region, config=config),
        ssm=session.client("ssm", region_name=region, config=config),
        cloudformation=session.client("cloudformation", region_name=region, config=config),
        bedrock=session.client("bedrock", region_name=region, config=config),
        lambda_=session.client("lambda", region_name=region, config=config),
        aoss=session.client("opensearchserverless", region_name=region, config=config),
        s3vectors=session.client("s3vectors", region_name=region, config=config),
    )


def run_checks(clients: Clients, inputs: DeployInputs, region: str) -> list[Finding]:
    """Every check but the region's, in the order an operator fixes them."""
    account, credentials = check_credentials(clients.sts, region)
    if account is None:
        return [credentials]
    findings = [
        credentials,
        check_bootstrap(
            clients.ssm,
            clients.cloudformation,
            account=account,
            region=region,
            qualifier=inputs.bootstrap_qualifier,
        ),
    ]
    for label, model_id in (
        ("claude", inputs.claude_model_id),
        ("titan", inputs.embedding_model_id),
    ):
        findings.append(check_model_access(clients.bedrock, label, model_id, region))
        profile = check_inference_profile(clients.bedrock, label, model_id, region)
        if profile is not None:
            findings.append(profile)
    findings.append(
        check_lambda_concurrency(clients.lambda_, region, reservations=inputs.reservations)
    )
    # The chosen store's checks only; an unknown one already FAILs in check_vector_store.
    if inputs.vector_store == "opensearch":
        findings += check_opensearch(clients.aoss, inputs.collection_name)
    elif inputs.vector_store == "s3vectors":
        findings.append(check_s3vectors_buckets(clients.s3vectors, inputs.stage, region))
    return findings


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--region", help="region to check (default: where make deploy would deploy to)"
    )
    parser.add_argument("--stage", help="stage to check, as make deploy STAGE=... (-c stage=...)")
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a CDK context override, as cdk deploy -c takes it; repeatable",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def run(
    args: argparse.Namespace,
    *,
    stdout: TextIO,
    stderr: TextIO,
    environ: Mapping[str, str],
    cdk_json: Path,
    profile_region: str | None,
    clients_factory: Callable[[str], Clients],
) -> int:
    """The doctor's exit status: 0 when nothing FAILs, 1 when something does, 2 for bad flags."""
    try:
        overrides = parse_overrides(args.context)
        if args.stage:
            overrides["stage"] = args.stage
        inputs = deploy_inputs(read_context(cdk_json), overrides)
    except InputError as error:
        stderr.write(f"chatbot doctor: {error}\n")
        return 2
    region, region_finding = check_region(args.region, environ, profile_region)
    findings = [
        region_finding,
        check_vector_store(inputs.vector_store),
        *run_checks(clients_factory(region), inputs, region),
    ]
    stdout.write(render_json(findings) if args.format == "json" else render_text(findings))
    return exit_status(findings)


DESCRIPTION = (
    "Before deploying, with your AWS credentials: checks what this account and region lack "
    "(CDK bootstrap, Bedrock model access, inference profile, Lambda concurrency, the document "
    "store: OpenSearch Serverless quotas or S3 Vectors in the region) and prints each finding "
    "with its fix. Exits 1 when something FAILs."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argparse.ArgumentParser(prog="chatbot doctor", description=DESCRIPTION))
    args = parser.parse_args(argv)
    import boto3

    session = boto3.Session()
    return run(
        args,
        stdout=sys.stdout,
        stderr=sys.stderr,
        environ=os.environ,
        cdk_json=Path.cwd() / "cdk.json",
        profile_region=session.region_name,
        clients_factory=lambda region: clients_for(session, region),
    )
