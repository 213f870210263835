"""The Observability construct's template: dashboard, alarms, encrypted topic, subscription."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from constructs import IConstruct

from stacks.constructs.observability import Observability
from tests.infra.conftest import TemplateResources, assert_cfn_lint_clean, construct_test_app

REPO = Path(__file__).resolve().parents[2]
API_ID = "abc123"
STAGE = "dev"
EMAIL = "oncall@example.com"
# name -> timeout in seconds; "mcp" is imported by ARN, so its timeout comes from `timeouts`.
TIMEOUTS = {"websocket": 10, "engine": 300, "mcp": 60}


@dataclass
class Observed(TemplateResources):
    template: Template
    json: dict[str, Any]
    # Logical ids: each function by name, "topic", "key".
    ids: dict[str, str]
    # Logical id of each alarm, by its key in Observability.alarms.
    alarm_ids: dict[str, str]

    def alarm(self, key: str) -> dict[str, Any]:
        return self.json["Resources"][self.alarm_ids[key]]["Properties"]  # type: ignore[no-any-return]


@dataclass
class Synthesis:
    mailed: Observed  # alarm_email set
    unmailed: Observed  # alarm_email empty
    nag_error: str | None
    acknowledgments: dict[str, str]


def _observe(stack: cdk.Stack, alarm_email: str) -> tuple[dict[str, str], dict[str, str]]:
    # A role without managed policies, so that the inputs draw no cdk-nag finding of their own.
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    functions: dict[str, lambda_.IFunction] = {
        name: lambda_.Function(
            stack,
            name.title(),
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
            role=role,
            timeout=cdk.Duration.seconds(TIMEOUTS[name]),
        )
        for name in ("websocket", "engine")
    }
    functions["mcp"] = lambda_.Function.from_function_arn(
        stack, "Mcp", "arn:aws:lambda:us-east-1:123456789012:function:chatbot-dev-mcp"
    )
    observability = Observability(
        stack,
        "Observability",
        functions=functions,
        api_id=API_ID,
        stage_name=STAGE,
        alarm_email=alarm_email,
        dashboard_name=f"chatbot-{stack.stack_name.lower()}",
        timeouts={"mcp": cdk.Duration.seconds(TIMEOUTS["mcp"])},
    )

    def logical_id(construct: IConstruct | None) -> str:
        assert construct is not None
        return stack.get_logical_id(cast(cdk.CfnElement, construct.node.default_child))

    ids = {
        name: logical_id(function)
        for name, function in functions.items()
        if isinstance(function, lambda_.Function)
    }
    ids["topic"] = logical_id(observability.topic)
    ids["key"] = logical_id(observability.topic.master_key)
    alarm_ids = {key: logical_id(alarm) for key, alarm in observability.alarms.items()}
    return ids, alarm_ids


@pytest.fixture(scope="module")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """Both variants in one app, synthesized once with cdk-nag on."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = construct_test_app(outdir)
    env = cdk.Environment(account="123456789012", region="us-east-1")
    stacks = {
        "mailed": cdk.Stack(app, "Mailed", env=env),
        "unmailed": cdk.Stack(app, "Unmailed", env=env),
    }
    ids = {
        "mailed": _observe(stacks["mailed"], EMAIL),
        "unmailed": _observe(stacks["unmailed"], ""),
    }
    nag_error = None
    try:
        app.synth()
    except RuntimeError as error:
        nag_error = str(error)
    acknowledgments: dict[str, str] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledgments.update(entry.data)

    def observed(variant: str) -> Observed:
        path = outdir / f"{stacks[variant].artifact_id}.template.json"
        template_json = json.loads(path.read_text())
        return Observed(Template.from_json(template_json), template_json, *ids[variant])

    return Synthesis(observed("mailed"), observed("unmailed"), nag_error, acknowledgments)


@pytest.fixture
def observed(synthesis: Synthesis) -> Observed:
    return synthesis.mailed


def function_dimension(observed: Observed, name: str) -> list[dict[str, Any]]:
    if name == "mcp":
        return [{"Name": "FunctionName", "Value": "chatbot-dev-mcp"}]
    return [{"Name": "FunctionName", "Value": {"Ref": observed.ids[name]}}]


def dashboard_text(observed: Observed) -> str:
    """The dashboard body with each reference written as <LogicalId>."""
    [dashboard] = observed.resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(
        part
        if isinstance(part, str)
        else f"<{part['Ref'] if 'Ref' in part else part['Fn::GetAtt'][0]}>"
        for part in parts
    )


# --- alarms --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TIMEOUTS))
def test_any_function_error_in_five_minutes_alarms(observed: Observed, name: str) -> None:
    alarm = observed.alarm(f"{name}-errors")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Lambda",
        "Errors",
        "Sum",
    )
    assert alarm["Dimensions"] == function_dimension(observed, name)
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (300, 1, 1)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


@pytest.mark.parametrize("name", list(TIMEOUTS))
def test_any_throttle_alarms(observed: Observed, name: str) -> None:
    alarm = observed.alarm(f"{name}-throttles")
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == ("Throttles", "Sum", 300)
    assert alarm["Dimensions"] == function_dimension(observed, name)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


@pytest.mark.parametrize("name", list(TIMEOUTS))
def test_p99_duration_above_80_percent_of_the_timeout_for_two_periods_alarms(
    observed: Observed, name: str
) -> None:
    alarm = observed.alarm(f"{name}-duration")
    assert (alarm["MetricName"], alarm["ExtendedStatistic"]) == ("Duration", "p99")
    assert alarm["Dimensions"] == function_dimension(observed, name)
    assert alarm["Threshold"] == TIMEOUTS[name] * 1000 * 0.8
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)


def test_any_api_execution_error_alarms(observed: Observed) -> None:
    alarm = observed.alarm("api-execution-errors")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApiGateway",
        "ExecutionError",
        "Sum",
    )
    assert alarm["Dimensions"] == [
        {"Name": "ApiId", "Value": API_ID},
        {"Name": "Stage", "Value": STAGE},
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert (alarm["Period"], alarm["EvaluationPeriods"]) == (300, 1)


def test_api_integration_latency_p99_above_five_seconds_for_two_periods_alarms(
    observed: Observed,
) -> None:
    alarm = observed.alarm("api-integration-latency")
    assert (alarm["MetricName"], alarm["ExtendedStatistic"]) == ("IntegrationLatency", "p99")
    assert alarm["Dimensions"] == [
        {"Name": "ApiId", "Value": API_ID},
        {"Name": "Stage", "Value": STAGE},
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (5000, "GreaterThanThreshold")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)


def test_every_alarm_notifies_the_topic_on_alarm_and_recovery_and_ignores_silence(
    observed: Observed,
) -> None:
    alarms = observed.resources("AWS::CloudWatch::Alarm")
    # Three per function, two for the API.
    assert len(alarms) == 3 * len(TIMEOUTS) + 2
    topic = {"Ref": observed.ids["topic"]}
    for alarm in alarms.values():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [topic]
        assert properties["OKActions"] == [topic]
        assert properties["TreatMissingData"] == "notBreaching"
        assert len(properties["AlarmDescription"]) > 30


# --- the topic -----------------------------------------------------------------------------


def test_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(observed: Observed) -> None:
    [topic] = observed.resources("AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [observed.ids["key"], "Arn"]}
    key = observed.json["Resources"][observed.ids["key"]]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert {
        "Sid": "CloudWatchAlarmsPublish",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Resource": "*",
    } in key["KeyPolicy"]["Statement"]


def test_topic_refuses_publishing_without_tls(observed: Observed) -> None:
    [policy] = observed.resources("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": observed.ids["topic"]}]
    assert {
        "Sid": "AllowPublishThroughSSLOnly",
        "Action": "sns:Publish",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": "*",
        "Resource": {"Ref": observed.ids["topic"]},
    } in policy["Properties"]["PolicyDocument"]["Statement"]


def test_only_this_accounts_alarms_may_publish_to_the_topic(observed: Observed) -> None:
    [policy] = observed.resources("AWS::SNS::TopicPolicy").values()
    [allow] = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    [source_arn] = allow["Condition"]["ArnLike"].values()
    assert source_arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"


def test_alarm_email_is_subscribed_to_the_topic(observed: Observed) -> None:
    [subscription] = observed.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "Endpoint": EMAIL,
        "Protocol": "email",
        "TopicArn": {"Ref": observed.ids["topic"]},
    }


def test_no_subscription_without_an_alarm_email(synthesis: Synthesis) -> None:
    assert synthesis.unmailed.resources("AWS::SNS::Subscription") == {}
    # The alarms and their topic are there all the same.
    assert len(synthesis.unmailed.resources("AWS::CloudWatch::Alarm")) == 3 * len(TIMEOUTS) + 2


# --- the dashboard -------------------------------------------------------------------------


def test_dashboard_has_the_given_name(observed: Observed) -> None:
    [dashboard] = observed.resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "chatbot-mailed"


@pytest.mark.parametrize("name", list(TIMEOUTS))
def test_dashboard_charts_each_functions_traffic_failures_and_latency(
    observed: Observed, name: str
) -> None:
    body = json.loads(dashboard_text(observed))
    charts = {
        widget["properties"]["title"]: widget["properties"]
        for widget in body["widgets"]
        if widget["type"] == "metric"
    }
    function = function_dimension(observed, name)[0]["Value"]
    function = function if isinstance(function, str) else f"<{function['Ref']}>"
    traffic = charts[f"{name}: invocations, errors, throttles"]["metrics"]
    assert [metric[:4] for metric in traffic] == [
        ["AWS/Lambda", metric_name, "FunctionName", function]
        for metric_name in ("Invocations", "Errors", "Throttles")
    ]
    latency = charts[f"{name}: duration p50 and p99 (ms)"]
    assert [(metric[1], metric[4]["stat"]) for metric in latency["metrics"]] == [
        ("Duration", "p50"),
        ("Duration", "p99"),
    ]
    assert latency["annotations"]["horizontal"][0]["value"] == TIMEOUTS[name] * 1000 * 0.8


def test_dashboard_charts_the_websocket_api_by_api_id_and_stage(observed: Observed) -> None:
    body = json.loads(dashboard_text(observed))
    charted = [
        (metric[1], metric[-1]["stat"])
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
        if metric[0] == "AWS/ApiGateway"
    ]
    assert charted == [
        ("ConnectCount", "Sum"),
        ("MessageCount", "Sum"),
        ("ClientError", "Sum"),
        ("ExecutionError", "Sum"),
        ("IntegrationLatency", "p99"),
    ]
    for widget in body["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            if metric[0] == "AWS/ApiGateway":
                assert metric[2:6] == ["ApiId", API_ID, "Stage", STAGE]


def test_dashboard_shows_every_alarm_state_first(observed: Observed) -> None:
    body = json.loads(dashboard_text(observed))
    first = body["widgets"][0]
    assert first["type"] == "alarm"
    assert {arn.strip("<>") for arn in first["properties"]["alarms"]} == set(
        observed.alarm_ids.values()
    )


# --- checks --------------------------------------------------------------------------------


def test_synth_raises_no_cdk_nag_finding_and_needs_no_acknowledgment(
    synthesis: Synthesis,
) -> None:
    assert synthesis.nag_error is None
    assert synthesis.acknowledgments == {}


@pytest.mark.parametrize("variant", ["mailed", "unmailed"])
def test_template_passes_cfn_lint(synthesis: Synthesis, variant: str) -> None:
    observed: Observed = getattr(synthesis, variant)
    # W3005: CDK itself adds a DependsOn on a function's role beside the GetAtt of it.
    assert_cfn_lint_clean(observed.json, allowed_warnings={"W3005"})


# --- props ---------------------------------------------------------------------------------


def _construct(**overrides: Any) -> None:
    stack = cdk.Stack(cdk.App(), "Props")
    props: dict[str, Any] = {
        "functions": {
            "mcp": lambda_.Function.from_function_arn(
                stack, "Mcp", "arn:aws:lambda:us-east-1:123456789012:function:mcp"
            )
        },
        "api_id": API_ID,
        "stage_name": STAGE,
        "alarm_email": "",
        "dashboard_name": "chatbot-props",
        "timeouts": {"mcp": cdk.Duration.seconds(60)},
    }
    Observability(stack, "Observability", **{**props, **overrides})


def test_an_imported_function_without_a_given_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match=r"timeouts\['mcp'\]"):
        _construct(timeouts=None)


def test_an_alarm_email_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="not an email address"):
        _construct(alarm_email="oncall")


def test_no_functions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one function"):
        _construct(functions={})
