"""Log retention: every value CloudWatch Logs accepts, and log groups for CDK's own functions."""

from __future__ import annotations

from typing import Final

from aws_cdk import CfnResource, RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

# CloudWatch Logs' retention choices (PutRetentionPolicy), in days.
RETENTION: Final = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention_days(days: int) -> logs.RetentionDays:
    try:
        return RETENTION[days]
    except KeyError:
        choices = ", ".join(str(d) for d in RETENTION)
        raise ValueError(f"logRetentionDays must be one of {choices}, not {days}") from None


def log_group_for_provider_function(
    scope: Construct,
    construct_id: str,
    *,
    function: CfnResource,
    invoked_by: list[CfnResource],
    retention: logs.RetentionDays,
) -> logs.LogGroup:
    """A retained-for-``retention`` group /aws/lambda/<function> for a CDK framework function
    that takes no log group (a CustomResourceProvider's handler, such as S3 auto-delete).

    Lambda creates the group itself on the function's first call if it does not exist yet,
    which would then make this resource's creation fail: so everything that invokes the
    function (``invoked_by``, its custom resources) is created after the group.
    """
    group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=f"/aws/lambda/{function.ref}",
        retention=retention,
        removal_policy=RemovalPolicy.DESTROY,
    )
    for resource in invoked_by:
        resource.add_resource_dependency(group.node.default_child)  # type: ignore[arg-type]
    return group
