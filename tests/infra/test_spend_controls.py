"""Spend controls in the stack: the token-use alarm, the engine's opt-in concurrency ceiling,
and the limits the functions read (context keys -> environment variables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_stack import function, permissions

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture(scope="module")
def tightened(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        {
            "sessionsPerIpPerMinute": "3",
            "messagesPerIpPerMinute": "7",
            "sessionTokensPerDay": "1000",
            "deploymentTokensPerDay": "90000",
            "allowedOrigins": "http://localhost:8080, https://chat.example.com",
            "bedrockTokensAlarmPerHour": "12345",
            "engineReservedConcurrency": "4",
        },
        tmp_path_factory.mktemp("cdk.out"),
    )


def environment(synthesized: Synthesized, name: str) -> dict[str, Any]:
    _, resource = function(synthesized, name)
    variables: dict[str, Any] = resource["Properties"]["Environment"]["Variables"]
    return variables


def token_alarm(synthesized: Synthesized) -> dict[str, Any]:
    [alarm] = [
        resource["Properties"]
        for resource in synthesized.resources("AWS::CloudWatch::Alarm").values()
        if "Bedrock tokens" in json.dumps(resource["Properties"].get("AlarmDescription", ""))
    ]
    return alarm


def test_an_alarm_fires_when_claudes_tokens_in_an_hour_pass_the_threshold(
    synthesized: Synthesized,
) -> None:
    alarm = token_alarm(synthesized)
    assert alarm["Threshold"] == 500000
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    metrics = {
        query["MetricStat"]["Metric"]["MetricName"]: query["MetricStat"]
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }
    assert set(metrics) == {"InputTokenCount", "OutputTokenCount"}
    for stat in metrics.values():
        assert stat["Metric"]["Namespace"] == "AWS/Bedrock"
        assert stat["Metric"]["Dimensions"] == [{"Name": "ModelId", "Value": CLAUDE}]
        assert (stat["Period"], stat["Stat"]) == (3600, "Sum")
    [expression] = [query for query in alarm["Metrics"] if "Expression" in query]
    assert expression["ReturnData"] is True
    assert "+" in expression["Expression"]
    [topic_id] = synthesized.resources("AWS::SNS::Topic")
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_the_engine_has_no_concurrency_ceiling_unless_the_context_asks(
    synthesized: Synthesized, tightened: Synthesized
) -> None:
    assert "ReservedConcurrentExecutions" not in function(synthesized, "engine")[1]["Properties"]
    assert function(tightened, "engine")[1]["Properties"]["ReservedConcurrentExecutions"] == 4


def test_the_functions_get_the_default_limits(synthesized: Synthesized) -> None:
    websocket = environment(synthesized, "websocket")
    assert (websocket["SESSIONS_PER_IP_PER_MINUTE"], websocket["MESSAGES_PER_IP_PER_MINUTE"]) == (
        "10",
        "30",
    )
    engine = environment(synthesized, "engine")
    assert (engine["SESSION_TOKENS_PER_DAY"], engine["DEPLOYMENT_TOKENS_PER_DAY"]) == (
        "50000",
        "2000000",
    )
    [limits_table] = [
        logical_id
        for logical_id, resource in synthesized.resources("AWS::DynamoDB::GlobalTable").items()
        if logical_id.startswith("TablesLimits")
    ]
    assert websocket["LIMITS_TABLE"] == engine["LIMITS_TABLE"] == {"Ref": limits_table}


def test_only_the_chat_page_may_open_a_connection_by_default(synthesized: Synthesized) -> None:
    origins = json.dumps(environment(synthesized, "websocket")["ALLOWED_ORIGINS"])
    [distribution] = synthesized.resources("AWS::CloudFront::Distribution")
    assert distribution in origins and "https://" in origins
    assert "localhost" not in origins


def test_context_keys_set_every_limit_threshold_and_origin(tightened: Synthesized) -> None:
    websocket = environment(tightened, "websocket")
    assert (websocket["SESSIONS_PER_IP_PER_MINUTE"], websocket["MESSAGES_PER_IP_PER_MINUTE"]) == (
        "3",
        "7",
    )
    engine = environment(tightened, "engine")
    assert (engine["SESSION_TOKENS_PER_DAY"], engine["DEPLOYMENT_TOKENS_PER_DAY"]) == (
        "1000",
        "90000",
    )
    origins = json.dumps(websocket["ALLOWED_ORIGINS"])
    assert ",http://localhost:8080,https://chat.example.com" in origins
    assert token_alarm(tightened)["Threshold"] == 12345


def test_the_counters_need_one_update_each_and_the_budgets_a_read(
    synthesized: Synthesized,
) -> None:
    websocket = permissions(synthesized, "websocket")
    engine = permissions(synthesized, "engine")
    assert any("Limits" in resource for resource in websocket["dynamodb:UpdateItem"])
    assert any("Limits" in resource for resource in engine["dynamodb:GetItem"])
    assert any("Limits" in resource for resource in engine["dynamodb:UpdateItem"])
    assert not any("Limits" in r for r in websocket.get("dynamodb:GetItem", set()))


def test_cdk_json_repeats_every_new_default() -> None:
    from stacks.settings import DEFAULTS

    context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
    for key in (
        "sessionsPerIpPerMinute",
        "messagesPerIpPerMinute",
        "sessionTokensPerDay",
        "deploymentTokensPerDay",
        "allowedOrigins",
        "bedrockTokensAlarmPerHour",
        "engineReservedConcurrency",
    ):
        assert context[key] == DEFAULTS[key]
