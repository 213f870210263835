"""Whose credentials doctor runs with: sts GetCallerIdentity (which needs no permission)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import NoCredentialsError

from chatbot.doctor.findings import CAUGHT, Finding, Status, cannot_check

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient


def check_credentials(sts: STSClient, region: str) -> tuple[str | None, Finding]:
    """The account id, or None when there are no usable credentials (nothing else can run)."""
    try:
        identity = sts.get_caller_identity()
    except CAUGHT as error:
        # Without a caller identity every other call fails the same way: stop here.
        if isinstance(error, NoCredentialsError):
            return None, Finding(
                "credentials",
                Status.FAIL,
                "no AWS credentials found",
                "configure them (aws configure, aws sso login, or AWS_PROFILE=...)",
            )
        # GetCallerIdentity needs no permission: any other error is rejected credentials
        # or an unreachable endpoint.
        finding = cannot_check("credentials", "the credentials", error, permission="none")
        return None, Finding("credentials", Status.FAIL, finding.found, finding.fix)
    account = identity["Account"]
    # The ARN can carry a person's name in its session; the account id is enough.
    return account, Finding("credentials", Status.OK, f"account {account}, region {region}")
