"""An alarm on the model's token use: the bill's early warning, whatever the app's budgets say."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct


class TokenUseAlarm(Construct):
    """Alarms when Bedrock's InputTokenCount + OutputTokenCount for ``model_id`` summed over an
    hour pass ``tokens_per_hour``, to the stack's alarm topic. It counts every caller of the
    model in the account and region, so it also sees spend the app's own counters miss."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_id: str,
        tokens_per_hour: int,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)

        def tokens(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Bedrock",
                metric_name=name,
                dimensions_map={"ModelId": model_id},
                statistic="Sum",
                period=Duration.hours(1),
            )

        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            metric=cloudwatch.MathExpression(
                expression="input + output",
                using_metrics={
                    "input": tokens("InputTokenCount"),
                    "output": tokens("OutputTokenCount"),
                },
                label="Bedrock tokens per hour",
                period=Duration.hours(1),
            ),
            threshold=tokens_per_hour,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            # No calls, no data: that is no spend, not a failure.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                f"Bedrock tokens for {model_id} over {tokens_per_hour} in an hour "
                "(context bedrockTokensAlarmPerHour)"
            ),
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
