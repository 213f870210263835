"""Whether the region is CDK-bootstrapped, with a bootstrap stack new enough for aws-cdk-lib."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chatbot.doctor.findings import CAUGHT, Finding, Status, cannot_check, error_code

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_ssm import SSMClient

CHECK = "bootstrap"
TOOLKIT_STACK = "CDKToolkit"
# aws-cdk-lib 2.275.0's DefaultStackSynthesizer requires this bootstrap version to deploy
# (MIN_BOOTSTRAP_STACK_VERSION in core/lib/stack-synthesizers/default-synthesizer.js; 8 only
# for context lookups, which this app makes none of). tests/unit/test_doctor_bootstrap.py
# reads it again from the installed aws-cdk-lib, so a new pin cannot leave it stale.
MIN_BOOTSTRAP_VERSION = 6
FIX_BOOTSTRAP = "make bootstrap (cdk bootstrap aws://{account}/{region}), as an administrator"


def version_parameter(qualifier: str) -> str:
    return f"/cdk-bootstrap/{qualifier}/version"


def _cdk_lib_version() -> str:
    try:
        return f"aws-cdk-lib {metadata.version('aws-cdk-lib')}"
    except metadata.PackageNotFoundError:
        return "the pinned aws-cdk-lib"


def check_bootstrap(
    ssm: SSMClient,
    cloudformation: CloudFormationClient,
    *,
    account: str,
    region: str,
    qualifier: str,
) -> Finding:
    parameter = version_parameter(qualifier)
    fix = FIX_BOOTSTRAP.format(account=account, region=region)
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"].get("Value", "")
    except CAUGHT as error:
        if isinstance(error, ClientError) and error_code(error) == "ParameterNotFound":
            return _without_parameter(cloudformation, parameter, region, fix)
        return cannot_check(
            CHECK,
            "the CDK bootstrap",
            error,
            permission=f"ssm:GetParameter on parameter{parameter}",
        )
    needs = f"{_cdk_lib_version()} needs {MIN_BOOTSTRAP_VERSION} or later"
    if not value.isdigit():
        return Finding(CHECK, Status.FAIL, f"{parameter} is not a version number; {needs}", fix)
    version = int(value)
    if version < MIN_BOOTSTRAP_VERSION:
        return Finding(CHECK, Status.FAIL, f"bootstrap version {version} in {region}; {needs}", fix)
    return Finding(CHECK, Status.OK, f"bootstrap version {version} in {region} ({needs})")


def _without_parameter(
    cloudformation: CloudFormationClient, parameter: str, region: str, fix: str
) -> Finding:
    """No version parameter: tell a region never bootstrapped from a broken or custom one."""
    try:
        stacks = cloudformation.describe_stacks(StackName=TOOLKIT_STACK)["Stacks"]
    except CAUGHT as error:
        if isinstance(error, ClientError) and error_code(error) == "ValidationError":
            # CloudFormation's answer for a stack that does not exist.
            return Finding(
                CHECK, Status.FAIL, f"{region} is not bootstrapped (no {TOOLKIT_STACK} stack)", fix
            )
        return cannot_check(
            CHECK,
            f"the {TOOLKIT_STACK} stack",
            error,
            permission="cloudformation:DescribeStacks on stack/CDKToolkit/*",
        )
    status = stacks[0].get("StackStatus", "") if stacks else ""
    return Finding(
        CHECK,
        Status.FAIL,
        f"{TOOLKIT_STACK} is {status or 'present'} in {region} but {parameter} is missing "
        "(failed bootstrap, or bootstrapped with another qualifier)",
        fix,
    )
