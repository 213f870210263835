"""The chatbot stack's template: tables, functions, WebSocket API, schedule and least privilege."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbot.protocol import ACTIONS
from chatbot.records import (
    PARTITION_SHARDS,
    activity_partition,
    analytics_shard_keys,
    day_partition,
)
from chatbot.tables import ALL_TABLES
from tests.infra.conftest import Synthesized, synthesize

RETENTION = ("SESSION_RETENTION_DAYS", "ANALYTICS_RETENTION_DAYS")

HANDLERS = {
    "websocket": "chatbot.handlers.websocket.handler",
    "engine": "chatbot.handlers.engine.handler",
    "mcp": "chatbot.handlers.mcp.handler",
    "cleanup": "chatbot.handlers.cleanup.handler",
}


def function(synthesized: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = [
        (logical_id, resource)
        for logical_id, resource in synthesized.resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == HANDLERS[name]
    ]
    return logical_id, resource


def role_statements(synthesized: Synthesized, name: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the function's role."""
    _, resource = function(synthesized, name)
    role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def permissions(synthesized: Synthesized, name: str) -> dict[str, set[str]]:
    """action -> the resources it is allowed on, rendered as text for comparison."""
    granted: dict[str, set[str]] = {}
    for statement in role_statements(synthesized, name):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            granted.setdefault(action, set()).update(
                _render(resource) for resource in as_list(statement["Resource"])
            )
    return granted


def _render(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::GetAtt" in resource:
        return f"{resource['Fn::GetAtt'][0]}.{resource['Fn::GetAtt'][1]}"
    if "Ref" in resource:
        return f"Ref:{resource['Ref']}"
    if "Fn::Join" in resource:
        return "".join(_render(part) for part in resource["Fn::Join"][1])
    return str(resource)


def table_id(synthesized: Synthesized, name: str) -> str:
    [logical_id] = [
        logical_id
        for logical_id in synthesized.resources("AWS::DynamoDB::GlobalTable")
        if logical_id.startswith(f"Tables{name.title()}")
    ]
    return logical_id


# --- tables ------------------------------------------------------------------------------


def test_the_keys_all_sessions_share_are_deployed_sharded(synthesized: Synthesized) -> None:
    """docs/SCALE.md: no partition of the analytics table or of the two busy indexes is one
    value for every session (the day, the event type, ``active``)."""
    resources = synthesized.json["Resources"]

    def keys(name: str) -> dict[str | None, str]:
        table = resources[table_id(synthesized, name)]["Properties"]
        found: dict[str | None, str] = {
            None: next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
        }
        for index in table.get("GlobalSecondaryIndexes", []):
            found[index["IndexName"]] = next(
                k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH"
            )
        return found

    assert keys("analytics") == {None: "dateShard", "byType": "typeShard"}
    assert keys("sessions")["byActivity"] == "activityStatus"
    # What the writers put in them: one of PARTITION_SHARDS values, not one for everyone.
    assert len({activity_partition(f"s{n}") for n in range(1000)}) == PARTITION_SHARDS
    assert len({day_partition("2026-12-02", f"s{n}") for n in range(1000)}) == PARTITION_SHARDS
    assert set(analytics_shard_keys("query", "s1", "2026-12-02")) == {"dateShard", "typeShard"}


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.name)
def test_each_table_has_the_runtimes_keys_indexes_and_ttl(
    synthesized: Synthesized, spec: Any
) -> None:
    table = synthesized.json["Resources"][table_id(synthesized, spec.name)]["Properties"]
    keys = {key["AttributeName"]: key["KeyType"] for key in table["KeySchema"]}
    expected = {spec.partition_key: "HASH", **({spec.sort_key: "RANGE"} if spec.sort_key else {})}
    assert keys == expected
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    [replica] = table["Replicas"]
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    if spec.ttl_attribute:
        assert table["TimeToLiveSpecification"] == {
            "AttributeName": spec.ttl_attribute,
            "Enabled": True,
        }
    else:
        assert "TimeToLiveSpecification" not in table
    global_indexes = {
        index["IndexName"]: {key["AttributeName"]: key["KeyType"] for key in index["KeySchema"]}
        for index in table.get("GlobalSecondaryIndexes", [])
    }
    local_indexes = {
        index["IndexName"]: {key["AttributeName"]: key["KeyType"] for key in index["KeySchema"]}
        for index in table.get("LocalSecondaryIndexes", [])
    }
    for index in spec.indexes:
        found = (local_indexes if index.local else global_indexes)[index.name]
        assert found == {index.partition_key: "HASH", index.sort_key: "RANGE"}
    assert len(global_indexes) + len(local_indexes) == len(spec.indexes)
    # Removed by `cdk destroy` unless retainData is set.
    assert (
        synthesized.json["Resources"][table_id(synthesized, spec.name)]["DeletionPolicy"]
        == "Delete"
    )


# --- functions -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", HANDLERS)
def test_functions_run_the_newest_python_on_arm64_with_their_own_log_group(
    synthesized: Synthesized, name: str
) -> None:
    _, resource = function(synthesized, name)
    properties = resource["Properties"]
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert "LoggingConfig" in properties
    assert properties["Environment"]["Variables"]["CHATBOT_ENV"] == "aws"


@pytest.mark.parametrize(
    ("name", "variables"),
    [
        (
            "websocket",
            {
                "SESSIONS_TABLE",
                "CONNECTIONS_TABLE",
                "CONVERSATIONS_TABLE",
                "ANALYTICS_TABLE",
                "SESSION_TIMEOUT_MINUTES",
                "ENGINE_FUNCTION_NAME",
                "SESSION_SECRET_ARN",
                "RATE_LIMIT_PER_MINUTE",
                "LIMITS_TABLE",
                "SESSIONS_PER_IP_PER_MINUTE",
                "MESSAGES_PER_IP_PER_MINUTE",
                "ALLOWED_ORIGINS",
                "ANSWER_TIMEOUT_SECONDS",
                "WEBSOCKET_API_ENDPOINT",
                *RETENTION,
            },
        ),
        (
            "engine",
            {
                "CHATBOT_MODEL",
                "BEDROCK_CLAUDE_MODEL",
                "BEDROCK_REGION",
                "CONVERSATIONS_TABLE",
                "ANALYTICS_TABLE",
                "CONNECTIONS_TABLE",
                "LIMITS_TABLE",
                "SESSION_TOKENS_PER_DAY",
                "DEPLOYMENT_TOKENS_PER_DAY",
                "MCP_TRANSPORT",
                "MCP_SERVER_LAMBDA_ARN",
                "TOOLS_SECRET_ARN",
                "VECTOR_STORE",
                "OPENSEARCH_ENDPOINT",
                "OPENSEARCH_INDEX",
                "OPENSEARCH_REGION",
                "BEDROCK_EMBEDDING_MODEL",
                "EMBEDDING_DIMENSIONS",
                "WEBSOCKET_API_ENDPOINT",
                *RETENTION,
            },
        ),
        (
            "mcp",
            {
                "RECORDS_TABLE",
                "TOOLS_SECRET_ARN",
                "VECTOR_STORE",
                "OPENSEARCH_ENDPOINT",
                "OPENSEARCH_INDEX",
                "OPENSEARCH_REGION",
                "BEDROCK_EMBEDDING_MODEL",
                "EMBEDDING_DIMENSIONS",
            },
        ),
        (
            "cleanup",
            {
                "SESSIONS_TABLE",
                "CONNECTIONS_TABLE",
                "ANALYTICS_TABLE",
                "SESSION_TIMEOUT_MINUTES",
                "WEBSOCKET_API_ENDPOINT",
                *RETENTION,
            },
        ),
    ],
)
def test_each_function_gets_only_the_environment_it_uses(
    synthesized: Synthesized, name: str, variables: set[str]
) -> None:
    _, resource = function(synthesized, name)
    common = {"CHATBOT_ENV", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"}
    assert set(resource["Properties"]["Environment"]["Variables"]) == variables | common


def test_the_engine_answers_for_minutes(synthesized: Synthesized) -> None:
    _, resource = function(synthesized, "engine")
    assert resource["Properties"]["Timeout"] == 300


# --- the WebSocket API -----------------------------------------------------------------------


def test_the_api_routes_by_body_action_to_the_websocket_handler(synthesized: Synthesized) -> None:
    [api] = synthesized.resources("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    routes = {
        route["Properties"]["RouteKey"]
        for route in synthesized.resources("AWS::ApiGatewayV2::Route").values()
    }
    assert routes == {"$connect", "$disconnect", "$default", *ACTIONS}
    handler_id, _ = function(synthesized, "websocket")
    for integration in synthesized.resources("AWS::ApiGatewayV2::Integration").values():
        uri = integration["Properties"]["IntegrationUri"]
        assert handler_id in str(uri)


def test_the_stage_throttles_and_writes_access_logs(synthesized: Synthesized) -> None:
    [stage] = synthesized.resources("AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == "dev"
    assert properties["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
    assert properties["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
    assert "requestId" in properties["AccessLogSettings"]["Format"]
    assert "DestinationArn" in properties["AccessLogSettings"]


def test_outputs_name_the_websocket_and_web_urls(synthesized: Synthesized) -> None:
    assert {"WebSocketUrl", "WebUrl"} <= set(synthesized.json["Outputs"])


def test_cleanup_runs_on_an_eventbridge_schedule(synthesized: Synthesized) -> None:
    [rule] = synthesized.resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    cleanup_id, _ = function(synthesized, "cleanup")
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [cleanup_id, "Arn"]}


# --- least privilege ---------------------------------------------------------------------------


def dynamodb(synthesized: Synthesized, name: str) -> dict[str, set[str]]:
    """table logical id (or table/index) -> the DynamoDB actions granted on it."""
    granted: dict[str, set[str]] = {}
    for action, resources in permissions(synthesized, name).items():
        if action.startswith("dynamodb:"):
            for resource in resources:
                granted.setdefault(resource, set()).add(action.removeprefix("dynamodb:"))
    return granted


def test_the_websocket_handler_touches_exactly_its_tables(synthesized: Synthesized) -> None:
    t = {spec.name: table_id(synthesized, spec.name) for spec in ALL_TABLES}
    assert dynamodb(synthesized, "websocket") == {
        f"{t['sessions']}.Arn": {"GetItem", "PutItem", "UpdateItem", "Query"},
        # listSessions: a signed-in user's sessions, newest first.
        f"{t['sessions']}.Arn/index/byUser": {"Query"},
        f"{t['connections']}.Arn": {"GetItem", "PutItem", "DeleteItem"},
        f"{t['conversations']}.Arn": {"GetItem", "PutItem", "UpdateItem", "Query"},
        f"{t['conversations']}.Arn/index/byTime": {"GetItem", "PutItem", "UpdateItem", "Query"},
        # UpdateItem: refused frames counted in one event per session, minute and code.
        f"{t['analytics']}.Arn": {"PutItem", "UpdateItem"},
        f"{t['limits']}.Arn": {"UpdateItem"},
    }


def test_the_engine_touches_exactly_its_tables(synthesized: Synthesized) -> None:
    t = {spec.name: table_id(synthesized, spec.name) for spec in ALL_TABLES}
    assert dynamodb(synthesized, "engine") == {
        f"{t['conversations']}.Arn": {"GetItem", "PutItem", "UpdateItem", "Query"},
        f"{t['conversations']}.Arn/index/byTime": {"GetItem", "PutItem", "UpdateItem", "Query"},
        f"{t['connections']}.Arn": {"Query"},
        f"{t['connections']}.Arn/index/bySession": {"Query"},
        f"{t['analytics']}.Arn": {"PutItem"},
        f"{t['limits']}.Arn": {"GetItem", "UpdateItem"},
    }


def test_only_the_mcp_server_touches_the_records_table(synthesized: Synthesized) -> None:
    records = f"{table_id(synthesized, 'records')}.Arn"
    assert dynamodb(synthesized, "mcp") == {
        records: {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"}
    }
    for name in ("websocket", "engine", "cleanup"):
        assert records not in dynamodb(synthesized, name)


def test_cleanup_touches_exactly_its_tables(synthesized: Synthesized) -> None:
    t = {spec.name: table_id(synthesized, spec.name) for spec in ALL_TABLES}
    assert dynamodb(synthesized, "cleanup") == {
        f"{t['sessions']}.Arn": {"UpdateItem", "Query"},
        f"{t['sessions']}.Arn/index/byActivity": {"UpdateItem", "Query"},
        f"{t['connections']}.Arn": {"Query", "DeleteItem"},
        f"{t['connections']}.Arn/index/bySession": {"Query", "DeleteItem"},
        f"{t['analytics']}.Arn": {"PutItem"},
    }


def test_each_function_invokes_exactly_the_function_it_calls(synthesized: Synthesized) -> None:
    engine_id, _ = function(synthesized, "engine")
    mcp_id, _ = function(synthesized, "mcp")
    assert permissions(synthesized, "websocket")["lambda:InvokeFunction"] == {f"{engine_id}.Arn"}
    assert permissions(synthesized, "engine")["lambda:InvokeFunction"] == {f"{mcp_id}.Arn"}
    assert "lambda:InvokeFunction" not in permissions(synthesized, "mcp")
    assert "lambda:InvokeFunction" not in permissions(synthesized, "cleanup")


@pytest.mark.parametrize(
    ("name", "method"), [("websocket", "POST"), ("engine", "POST"), ("cleanup", "DELETE")]
)
def test_manage_connections_is_this_apis_stage_only(
    synthesized: Synthesized, name: str, method: str
) -> None:
    [api_id] = synthesized.resources("AWS::ApiGatewayV2::Api")
    [resource] = permissions(synthesized, name)["execute-api:ManageConnections"]
    assert resource.endswith(f":Ref:{api_id}/dev/{method}/@connections/*")
    assert resource.startswith(
        "arn:Ref:AWS::Partition:execute-api:Ref:AWS::Region:Ref:AWS::AccountId"
    )


def test_bedrock_is_invocable_on_the_configured_models_only(synthesized: Synthesized) -> None:
    engine = permissions(synthesized, "engine")["bedrock:InvokeModel"]
    assert engine == {
        "arn:Ref:AWS::Partition:bedrock:Ref:AWS::Region:Ref:AWS::AccountId:inference-profile/"
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:Ref:AWS::Partition:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:Ref:AWS::Partition:bedrock:Ref:AWS::Region::foundation-model/amazon.titan-embed-text-v2:0",
    }
    assert permissions(synthesized, "mcp")["bedrock:InvokeModel"] == {
        "arn:Ref:AWS::Partition:bedrock:Ref:AWS::Region::foundation-model/amazon.titan-embed-text-v2:0"
    }
    assert not any(
        action.startswith("bedrock:") for action in permissions(synthesized, "websocket")
    )


def secret_named(synthesized: Synthesized, construct: str) -> str:
    [logical_id] = [
        logical_id
        for logical_id in synthesized.resources("AWS::SecretsManager::Secret")
        if logical_id.startswith(construct)
    ]
    return logical_id


def test_only_the_websocket_handler_reads_the_session_key(synthesized: Synthesized) -> None:
    session_key = secret_named(synthesized, "SessionKey")
    assert permissions(synthesized, "websocket")["secretsmanager:GetSecretValue"] == {
        f"Ref:{session_key}"
    }
    for name in ("engine", "mcp", "cleanup"):
        assert f"Ref:{session_key}" not in permissions(synthesized, name).get(
            "secretsmanager:GetSecretValue", set()
        )


def test_only_the_engine_and_the_mcp_server_read_the_tools_key(synthesized: Synthesized) -> None:
    tools_key = secret_named(synthesized, "ToolsKey")
    assert len(synthesized.resources("AWS::SecretsManager::Secret")) == 2
    for name in ("engine", "mcp"):
        assert permissions(synthesized, name)["secretsmanager:GetSecretValue"] == {
            f"Ref:{tools_key}"
        }
        assert function(synthesized, name)[1]["Properties"]["Environment"]["Variables"][
            "TOOLS_SECRET_ARN"
        ] == {"Ref": tools_key}
    for name in ("websocket", "cleanup"):
        assert f"Ref:{tools_key}" not in permissions(synthesized, name).get(
            "secretsmanager:GetSecretValue", set()
        )


@pytest.mark.parametrize("name", HANDLERS)
def test_no_function_is_allowed_anything_on_every_resource(
    synthesized: Synthesized, name: str
) -> None:
    for action, resources in permissions(synthesized, name).items():
        assert "*" not in resources, action


def test_a_guardrail_reaches_the_engine_with_leave_to_apply_it_and_no_other(
    tmp_path: Path,
) -> None:
    guarded = synthesize(
        {"bedrockGuardrailId": "gr7abc", "bedrockGuardrailVersion": "3"}, tmp_path
    )  # raises on any cdk-nag finding
    _, resource = function(guarded, "engine")
    variables = resource["Properties"]["Environment"]["Variables"]
    assert (variables["BEDROCK_GUARDRAIL_ID"], variables["BEDROCK_GUARDRAIL_VERSION"]) == (
        "gr7abc",
        "3",
    )
    assert permissions(guarded, "engine")["bedrock:ApplyGuardrail"] == {
        "arn:Ref:AWS::Partition:bedrock:Ref:AWS::Region:Ref:AWS::AccountId:guardrail/gr7abc"
    }
    assert not any("ApplyGuardrail" in action for action in permissions(guarded, "mcp"))


def test_reranking_is_off_unless_a_model_is_set_and_then_only_the_engine_may_rerank(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    _, default = function(synthesized, "engine")
    assert "RAG_RERANK_MODEL" not in default["Properties"]["Environment"]["Variables"]
    assert "bedrock:Rerank" not in permissions(synthesized, "engine")

    reranking = synthesize({"rerankModelId": "amazon.rerank-v1:0"}, tmp_path)  # nag-clean

    _, resource = function(reranking, "engine")
    assert resource["Properties"]["Environment"]["Variables"]["RAG_RERANK_MODEL"] == (
        "amazon.rerank-v1:0"
    )
    granted = permissions(reranking, "engine")
    assert granted["bedrock:Rerank"] == {"*"}  # the action takes no resource
    assert (
        "arn:Ref:AWS::Partition:bedrock:Ref:AWS::Region::foundation-model/amazon.rerank-v1:0"
        in granted["bedrock:InvokeModel"]
    )
    assert not any("Rerank" in action for action in permissions(reranking, "mcp"))


def test_retention_comes_from_context_to_every_function_that_writes_with_a_ttl(
    tmp_path: Path,
) -> None:
    kept = synthesize({"sessionRetentionDays": "7", "analyticsRetentionDays": "90"}, tmp_path)
    for name in ("websocket", "engine", "cleanup"):
        _, resource = function(kept, name)
        variables = resource["Properties"]["Environment"]["Variables"]
        assert (variables["SESSION_RETENTION_DAYS"], variables["ANALYTICS_RETENTION_DAYS"]) == (
            "7",
            "90",
        )


def test_analysts_get_a_policy_to_query_the_analytics_table_and_nothing_else(
    synthesized: Synthesized,
) -> None:
    [policy] = synthesized.resources("AWS::IAM::ManagedPolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "dynamodb:Query"
    resources = json.dumps(statement["Resource"])
    assert "AnalyticsTable" in resources or "analytics" in resources.lower()
    assert "/index/byType" in resources
    assert len(statement["Resource"]) == 2
    outputs = synthesized.json["Outputs"]
    assert any(key.startswith("AnalyticsReaderPolicyArn") for key in outputs)
