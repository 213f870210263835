"""The EventBridge schedule that runs the session cleanup function."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class CleanupSchedule(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, function: lambda_.IFunction, rate_minutes: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Closes chat sessions idle past the session timeout",
            schedule=events.Schedule.rate(Duration.minutes(rate_minutes)),
            # A missed run is harmless: the next one picks up where it stopped.
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )
