"""Dashboard and alarms for the functions and the WebSocket API, alarms mailed through SNS."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = Duration.minutes(5)
# A function whose p99 passes this share of its timeout is about to start timing out.
DURATION_ALARM_SHARE = 0.8
# Dashboard widths, on its grid of 24 columns.
_HALF = 12
_THIRD = 8
LAMBDA_DEFAULT_TIMEOUT = Duration.seconds(3)
# The websocket handler only validates, stores and acknowledges (the engine runs async):
# warm calls take well under a second, cold ones a few.
DEFAULT_LATENCY_THRESHOLD = Duration.seconds(5)


class Observability(Construct):
    """One dashboard; alarms on errors, throttles and latency; an encrypted topic for them.

    ``functions`` maps a short name (shown on the dashboard and in alarm descriptions) to
    the function. Each function's timeout comes from ``timeouts`` when named there, else
    from the function itself; a function imported by ARN does not know its own.
    ``alarm_email`` empty: alarms still go to ``topic``, with no subscriber yet.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        api_id: str,
        stage_name: str,
        alarm_email: str,
        dashboard_name: str,
        timeouts: Mapping[str, Duration] | None = None,
        integration_latency_threshold: Duration = DEFAULT_LATENCY_THRESHOLD,
        failure_queues: Mapping[str, sqs.IQueue] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not functions:
            raise ValueError("functions must name at least one function")
        if alarm_email and not Token.is_unresolved(alarm_email) and "@" not in alarm_email:
            raise ValueError(f"alarm_email {alarm_email!r} is not an email address")
        self.topic = self._topic(alarm_email)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        action = cloudwatch_actions.SnsAction(self.topic)

        rows: list[list[cloudwatch.IWidget]] = []
        for name, function in functions.items():
            timeout = _timeout(name, function, timeouts or {})
            rows.append(self._function_row(name, function, timeout))
        rows.append(self._api_row(api_id, stage_name, integration_latency_threshold))
        for name, queue in (failure_queues or {}).items():
            rows.append(self._failure_row(name, queue))
        for alarm in self.alarms.values():
            # OK too, so that whoever was paged also learns when it is over.
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.hours(3),
            widgets=[
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms",
                        alarms=list(self.alarms.values()),
                        width=24,
                        sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
                    )
                ],
                *rows,
            ],
        )

    def _topic(self, alarm_email: str) -> sns.Topic:
        # A key of our own: CloudWatch cannot publish to a topic encrypted with the
        # AWS-managed aws/sns key, whose policy cannot grant it kms:GenerateDataKey.
        key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the chatbot alarm topic",
            enable_key_rotation=True,
            # Messages in flight are all it protects, so nothing is lost with it.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        cloudwatch_service = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[cloudwatch_service],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        topic = sns.Topic(
            self, "AlarmTopic", display_name="Chatbot alarms", master_key=key, enforce_ssl=True
        )
        # The topic policy replaces SNS's default one, so CloudWatch must be allowed by name;
        # the conditions keep other accounts' alarms out (confused deputy).
        stack = Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[cloudwatch_service],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        if alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        return topic

    def _function_row(
        self, name: str, function: lambda_.IFunction, timeout: Duration
    ) -> list[cloudwatch.IWidget]:
        errors = function.metric_errors(period=PERIOD, statistic="Sum")
        throttles = function.metric_throttles(period=PERIOD, statistic="Sum")
        p99 = function.metric_duration(period=PERIOD, statistic="p99")
        slow_ms = timeout.to_milliseconds() * DURATION_ALARM_SHARE
        self._alarm(
            f"{name}-errors",
            errors,
            threshold=0,
            description=f"The {name} function failed at least once in 5 minutes "
            "(an exception or a timeout): see its log group.",
        )
        self._alarm(
            f"{name}-throttles",
            throttles,
            threshold=0,
            description=f"The {name} function was throttled: the account's or its reserved "
            "concurrency is exhausted.",
        )
        self._alarm(
            f"{name}-duration",
            p99,
            threshold=slow_ms,
            description=f"The {name} function's p99 duration is above "
            f"{DURATION_ALARM_SHARE:.0%} of its {timeout.to_seconds():.0f} s timeout.",
            sustained=True,
        )
        return [
            cloudwatch.GraphWidget(
                title=f"{name}: invocations, errors, throttles",
                left=[function.metric_invocations(period=PERIOD, statistic="Sum"), errors],
                right=[throttles],
                width=_HALF,
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: duration p50 and p99 (ms)",
                left=[function.metric_duration(period=PERIOD, statistic="p50"), p99],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=slow_ms, label="alarm"),
                ],
                width=_HALF,
            ),
        ]

    def _failure_row(self, name: str, queue: sqs.IQueue) -> list[cloudwatch.IWidget]:
        visible = queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        self._alarm(
            f"{name}-failed-invocations",
            visible,
            threshold=0,
            description=f"An asynchronous invocation of the {name} function failed for good "
            "(crashed, timed out or expired): its record waits in the failure queue.",
        )
        return [
            cloudwatch.GraphWidget(
                title=f"{name}: failed invocations waiting in the queue", left=[visible], width=24
            )
        ]

    def _api_row(
        self, api_id: str, stage_name: str, latency_threshold: Duration
    ) -> list[cloudwatch.IWidget]:
        def metric(metric_name: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=metric_name,
                dimensions_map={"ApiId": api_id, "Stage": stage_name},
                statistic=statistic,
                period=PERIOD,
            )

        execution_errors = metric("ExecutionError")
        latency = metric("IntegrationLatency", "p99")
        latency_ms = latency_threshold.to_milliseconds()
        self._alarm(
            "api-execution-errors",
            execution_errors,
            threshold=0,
            description="The WebSocket API failed to run an integration (API Gateway "
            "ExecutionError): clients saw internal errors.",
        )
        self._alarm(
            "api-integration-latency",
            latency,
            threshold=latency_ms,
            description="The WebSocket API's p99 integration latency is above "
            f"{latency_ms:.0f} ms: the websocket handler is slow.",
            sustained=True,
        )
        return [
            cloudwatch.GraphWidget(
                title="WebSocket API: connections and messages",
                left=[metric("ConnectCount"), metric("MessageCount")],
                width=_THIRD,
            ),
            cloudwatch.GraphWidget(
                title="WebSocket API: client and execution errors",
                left=[metric("ClientError"), execution_errors],
                width=_THIRD,
            ),
            cloudwatch.GraphWidget(
                title="WebSocket API: integration latency p99 (ms)",
                left=[latency],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=latency_ms, label="alarm"),
                ],
                width=_THIRD,
            ),
        ]

    def _alarm(
        self,
        key: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        sustained: bool = False,
    ) -> None:
        # Failures page at once; latency must last 2 of 3 periods, so that one cold start
        # in a quiet 5 minutes (where p99 is the slowest call) does not wake anyone.
        self.alarms[key] = cloudwatch.Alarm(
            self,
            key,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3 if sustained else 1,
            datapoints_to_alarm=2 if sustained else 1,
            # No traffic is not a failure: idle functions report no data at all.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )


def _timeout(name: str, function: lambda_.IFunction, timeouts: Mapping[str, Duration]) -> Duration:
    if name in timeouts:
        return timeouts[name]
    if isinstance(function, lambda_.Function):
        # None when the function kept Lambda's default.
        return function.timeout or LAMBDA_DEFAULT_TIMEOUT
    raise ValueError(
        f"function {name!r} does not know its timeout (imported?): give timeouts[{name!r}]"
    )
