"""What a check found: OK, WARN or FAIL, what it saw, and the fix; and how AWS errors become one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    found: str
    fix: str = ""


# The error codes AWS services use for "this identity may not call this".
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedException",
    }
)
THROTTLED = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException"})
# Credentials that AWS rejects outright: nothing else can be checked with them.
BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)
CAUGHT: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def cannot_check(check: str, what: str, error: Exception, *, permission: str) -> Finding:
    """A check that could not be made is a finding too; AWS's message is never echoed (it can
    name the caller's role session), only its error code."""
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in ACCESS_DENIED:
            return Finding(
                check,
                Status.WARN,
                f"cannot check {what}: access denied",
                f"grant the operator {permission}, then re-run",
            )
        if code in THROTTLED:
            return Finding(check, Status.WARN, f"cannot check {what}: throttled", "re-run")
        if code in BAD_CREDENTIALS:
            return Finding(
                check,
                Status.FAIL,
                f"cannot check {what}: the credentials were rejected ({code})",
                "refresh them (aws sso login, or new access keys), then re-run",
            )
        return Finding(
            check,
            Status.WARN,
            f"cannot check {what}: AWS answered {code or 'an error'}",
            f"re-run; the call needs {permission}",
        )
    if isinstance(error, NoCredentialsError):
        return Finding(
            check,
            Status.FAIL,
            f"cannot check {what}: no AWS credentials",
            "configure credentials (aws configure, aws sso login, or AWS_PROFILE)",
        )
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return Finding(
            check,
            Status.WARN,
            f"cannot check {what}: the service endpoint did not answer",
            "check the network (proxy, VPN) and that the region offers the service",
        )
    return Finding(
        check,
        Status.WARN,
        f"cannot check {what}: {type(error).__name__}",
        f"re-run; the call needs {permission}",
    )


def exit_status(findings: Sequence[Finding]) -> int:
    """0 when nothing FAILs, 1 otherwise: WARNs (and checks that could not be made) pass."""
    return 1 if any(finding.status is Status.FAIL for finding in findings) else 0


def render_text(findings: Sequence[Finding]) -> str:
    width = max((len(finding.check) for finding in findings), default=0)
    lines = []
    for finding in findings:
        line = f"{finding.status.value:<4}  {finding.check:<{width}}  {finding.found}"
        if finding.fix:
            line += f" -> fix: {finding.fix}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def render_json(findings: Sequence[Finding]) -> str:
    return (
        json.dumps(
            {
                "ok": exit_status(findings) == 0,
                "findings": [
                    {
                        "check": finding.check,
                        "status": finding.status.value,
                        "found": finding.found,
                        "fix": finding.fix,
                    }
                    for finding in findings
                ],
            },
            indent=2,
        )
        + "\n"
    )
