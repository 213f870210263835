"""Acknowledging a cdk-nag finding precisely: one finding id, on one construct, with a reason."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    if len(reason) < 40:
        raise ValueError(f"acknowledging {finding} needs a real reason, not {reason!r}")
    Validations.of(scope).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def logical_id(element: cdk.CfnElement) -> str:
    """The element's logical id as cdk-nag prints it inside a finding id."""
    stack = Stack.of(element)
    return str(stack.resolve(stack.get_logical_id(element)))
