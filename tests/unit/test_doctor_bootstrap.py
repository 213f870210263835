"""chatbot doctor's CDK bootstrap check: the version parameter, the CDKToolkit stack."""

from __future__ import annotations

import importlib.util
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chatbot.doctor.bootstrap import MIN_BOOTSTRAP_VERSION, check_bootstrap
from chatbot.doctor.findings import Status, render_text
from tests.conftest import FAKE_AWS_ENVIRONMENT

REGION = "us-east-1"
PARAMETER = "/cdk-bootstrap/hnb659fds/version"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def check(ssm: Any, cloudformation: Any) -> tuple[Status, str]:
    finding = check_bootstrap(
        ssm,
        cloudformation,
        account="123456789012",
        region=REGION,
        qualifier="hnb659fds",
    )
    return finding.status, render_text([finding])


def test_a_bootstrap_new_enough_for_aws_cdk_lib_is_ok(aws: None) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=PARAMETER, Value="30", Type="String")

    status, line = check(ssm, boto3.client("cloudformation", region_name=REGION))

    assert status is Status.OK
    assert "bootstrap version 30 in us-east-1" in line
    assert f"needs {MIN_BOOTSTRAP_VERSION} or later" in line


def test_a_bootstrap_older_than_aws_cdk_lib_needs_fails_with_the_command_to_upgrade(
    aws: None,
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=PARAMETER, Value="5", Type="String")

    status, line = check(ssm, boto3.client("cloudformation", region_name=REGION))

    assert status is Status.FAIL
    assert "bootstrap version 5 in us-east-1" in line
    assert "fix: make bootstrap (cdk bootstrap aws://123456789012/us-east-1)" in line


def test_a_region_never_bootstrapped_fails_with_make_bootstrap(aws: None) -> None:
    status, line = check(
        boto3.client("ssm", region_name=REGION), boto3.client("cloudformation", region_name=REGION)
    )

    assert status is Status.FAIL
    assert "us-east-1 is not bootstrapped (no CDKToolkit stack)" in line
    assert "make bootstrap" in line


def test_a_toolkit_stack_without_its_version_parameter_fails_as_a_broken_bootstrap() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(ssm) as ssm_stub, Stubber(cloudformation) as cfn_stub:
        ssm_stub.add_client_error("get_parameter", service_error_code="ParameterNotFound")
        cfn_stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "CDKToolkit",
                        "StackStatus": "ROLLBACK_COMPLETE",
                        "CreationTime": "2026-01-01T00:00:00Z",
                    }
                ]
            },
            {"StackName": "CDKToolkit"},
        )

        status, line = check(ssm, cloudformation)

    assert status is Status.FAIL
    assert f"CDKToolkit is ROLLBACK_COMPLETE in us-east-1 but {PARAMETER} is missing" in line


def test_an_operator_who_may_not_read_the_parameter_is_told_which_permission() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    with Stubber(ssm) as stub:
        stub.add_client_error(
            "get_parameter", service_error_code="AccessDeniedException", http_status_code=400
        )

        status, line = check(ssm, boto3.client("cloudformation", region_name=REGION))

    assert status is Status.WARN
    assert "cannot check the CDK bootstrap: access denied" in line
    assert f"ssm:GetParameter on parameter{PARAMETER}" in line


def test_an_operator_who_may_not_describe_the_toolkit_stack_is_told_which_permission() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(ssm) as ssm_stub, Stubber(cloudformation) as cfn_stub:
        ssm_stub.add_client_error("get_parameter", service_error_code="ParameterNotFound")
        cfn_stub.add_client_error("describe_stacks", service_error_code="AccessDenied")

        status, line = check(ssm, cloudformation)

    assert status is Status.WARN
    assert "cannot check the CDKToolkit stack: access denied" in line
    assert "cloudformation:DescribeStacks" in line


def test_the_minimum_version_is_the_one_the_installed_aws_cdk_lib_requires() -> None:
    # Read from the jsii assembly that ships inside the aws-cdk-lib wheel: a new pin with a
    # new minimum fails here until bootstrap.py says so too.
    # (found, not imported: importing aws_cdk starts its Node runtime).
    spec = importlib.util.find_spec("aws_cdk")
    assert spec is not None and spec.origin is not None
    assemblies = list((Path(spec.origin).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    source = ""
    with tarfile.open(assemblies[0], "r:gz") as archive:
        for member in archive:
            if member.name.endswith("core/lib/stack-synthesizers/default-synthesizer.js"):
                extracted = archive.extractfile(member)
                assert extracted is not None
                source = extracted.read().decode()
                break
    required = re.search(r"MIN_BOOTSTRAP_STACK_VERSION\s*=\s*(\d+)", source)

    assert required is not None
    assert int(required.group(1)) == MIN_BOOTSTRAP_VERSION
