"""Operating the stack: a fresh account, one set of search settings, region rule, destroy and
deploy again, logs that expire, failed engine invocations seen, the outputs operators use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from stacks.log_retention import RETENTION, retention_days
from stacks.region_rule import require_profile_regions
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_stack import function, permissions, role_statements

# CloudWatch Logs' retention values (PutRetentionPolicy), in days.
CLOUDWATCH_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545),
    *(731, 1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
EU_CLAUDE = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
STACK_ID = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/Chatbot-prod/"
    "{}-4f3e-11ef-9a1b-0a1b2c3d4e5f"
)


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A production-like stage: data retained, sign-in, every operator setting changed."""
    return synthesize(
        {
            "stage": "prod",
            "retainData": "true",
            "userSignIn": "true",
            "embeddingDimensions": "512",
            "cleanupReservedConcurrency": "3",
            "logRetentionDays": "400",
            "claudeModelId": EU_CLAUDE,
        },
        tmp_path_factory.mktemp("cdk.out"),
    )


def resolve(value: Any, pseudo: dict[str, str]) -> Any:
    """Evaluate the intrinsics a physical name may use, with ``pseudo`` as Ref values."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(item, pseudo) for item in value]
    if "Ref" in value:
        return pseudo[value["Ref"]]
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(resolve(parts, pseudo))
    if "Fn::Split" in value:
        delimiter, text = value["Fn::Split"]
        return resolve(text, pseudo).split(delimiter)
    if "Fn::Select" in value:
        index, items = value["Fn::Select"]
        return resolve(items, pseudo)[int(index)]
    raise AssertionError(f"a name that depends on {value}")


def named_resources(synthesized: Synthesized) -> dict[str, Any]:
    """logical id -> Name, for every resource with a fixed-name property ``Name``."""
    return {
        logical_id: resource["Properties"]["Name"]
        for logical_id, resource in synthesized.json["Resources"].items()
        if "Name" in resource.get("Properties", {})
    }


# --- a fresh account -----------------------------------------------------------------------


def test_by_default_no_function_reserves_concurrency(synthesized: Synthesized) -> None:
    # A new account's limit is often 10, all of which Lambda keeps unreserved.
    for logical_id, resource in synthesized.resources("AWS::Lambda::Function").items():
        assert "ReservedConcurrentExecutions" not in resource["Properties"], logical_id


def test_a_cleanup_reservation_is_opt_in_and_reserves_for_the_cleanup_only(
    kept: Synthesized,
) -> None:
    cleanup_id, cleanup = function(kept, "cleanup")
    assert cleanup["Properties"]["ReservedConcurrentExecutions"] == 3
    for logical_id, resource in kept.resources("AWS::Lambda::Function").items():
        if logical_id != cleanup_id:
            assert "ReservedConcurrentExecutions" not in resource["Properties"], logical_id


# --- one source for the search settings -----------------------------------------------------


@pytest.mark.parametrize(("variant", "dimensions"), [("default", "1024"), ("kept", "512")])
def test_every_function_that_searches_embeds_with_the_same_model_and_dimensions(
    synthesized: Synthesized, kept: Synthesized, variant: str, dimensions: str
) -> None:
    template = synthesized if variant == "default" else kept
    searching = [
        resource["Properties"]["Environment"]["Variables"]
        for resource in template.resources("AWS::Lambda::Function").values()
        if "OPENSEARCH_ENDPOINT"
        in resource["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert len(searching) == 3  # engine, MCP server, index setup
    for variables in searching:
        assert variables["BEDROCK_EMBEDDING_MODEL"] == "amazon.titan-embed-text-v2:0"
        assert variables["EMBEDDING_DIMENSIONS"] == dimensions
    [index] = template.resources("Custom::OpenSearchIndex").values()
    assert index["Properties"]["Dimensions"] == int(dimensions)


# --- the inference profile's geography ------------------------------------------------------


def test_a_us_profile_model_id_may_deploy_in_us_regions_only(synthesized: Synthesized) -> None:
    [assertion] = synthesized.json["Rules"]["InferenceProfileRegion"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert {"us-east-1", "us-east-2", "us-west-2"} <= set(regions)
    assert all(name.startswith("us-") and "gov" not in name for name in regions)
    assert "'us.'" in assertion["AssertDescription"]


def test_an_eu_profile_model_id_may_deploy_in_eu_regions_only(kept: Synthesized) -> None:
    [assertion] = kept.json["Rules"]["InferenceProfileRegion"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert {"eu-west-1", "eu-central-1"} <= set(regions)
    assert all(name.startswith("eu-") for name in regions)


def test_an_apac_profile_model_id_may_deploy_in_asia_pacific_regions_only() -> None:
    stack = cdk.Stack(cdk.App(), "ApacRule")
    require_profile_regions(stack, ("apac.anthropic.claude-sonnet-4-5-20250929-v1:0",))
    rules = Template.from_stack(stack).to_json()["Rules"]

    [assertion] = rules["InferenceProfileRegion"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert {"ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2"} <= set(regions)
    assert all(name.startswith("ap-") for name in regions)
    assert "'apac.'" in assertion["AssertDescription"]


def test_model_ids_without_a_geography_need_no_rule(tmp_path: Path) -> None:
    direct = synthesize({"claudeModelId": "anthropic.claude-sonnet-4-5-20250929-v1:0"}, tmp_path)
    assert "InferenceProfileRegion" not in direct.json.get("Rules", {})


# --- destroy, and deploy again --------------------------------------------------------------


def test_retained_names_are_new_for_each_deployment_and_stable_within_one(
    kept: Synthesized, tmp_path: Path
) -> None:
    again = synthesize(
        {"stage": "prod", "retainData": "true", "userSignIn": "true", "claudeModelId": EU_CLAUDE},
        tmp_path,
    )
    names = named_resources(kept)
    assert names == named_resources(again)  # a redeploy of the stack renames nothing
    retained = {
        logical_id
        for logical_id in names
        if kept.json["Resources"][logical_id].get("DeletionPolicy") == "Retain"
    }
    types = {kept.json["Resources"][logical_id]["Type"] for logical_id in retained}
    assert types == {
        "AWS::OpenSearchServerless::Collection",
        "AWS::OpenSearchServerless::SecurityPolicy",  # the encryption policy
    }
    # The stack destroyed and created again gets a new stack id, and with it new names.
    first = {"AWS::StackId": STACK_ID.format("3f2a5c10")}
    second = {"AWS::StackId": STACK_ID.format("9b7d0e42")}
    for logical_id in retained:
        before, after = resolve(names[logical_id], first), resolve(names[logical_id], second)
        assert before == "chatbot-prod-3f2a5c10" and after == "chatbot-prod-9b7d0e42"
    # Every policy names the collection it covers by the same name.
    for logical_id, name in names.items():
        if kept.json["Resources"][logical_id]["Type"].startswith("AWS::OpenSearchServerless"):
            assert resolve(name, first) == "chatbot-prod-3f2a5c10", logical_id


def test_retain_data_keeps_exactly_the_data_and_who_may_reach_it(kept: Synthesized) -> None:
    retained = sorted(
        resource["Type"]
        for resource in kept.json["Resources"].values()
        if resource.get("DeletionPolicy") == "Retain"
    )
    assert retained == sorted(
        [
            *["AWS::DynamoDB::GlobalTable"] * 6,
            "AWS::OpenSearchServerless::Collection",
            "AWS::OpenSearchServerless::SecurityPolicy",
            "AWS::SecretsManager::Secret",
            "AWS::S3::Bucket",  # the web page
            "AWS::S3::Bucket",  # its access logs
            "AWS::Cognito::UserPool",
            # Always retained: the region's API Gateway logging role, other APIs may use it.
            "AWS::IAM::Role",
            "AWS::ApiGateway::Account",
        ]
    )


def test_by_default_only_the_account_wide_api_gateway_logging_setup_outlives_a_destroy(
    synthesized: Synthesized,
) -> None:
    retained = sorted(
        resource["Type"]
        for resource in synthesized.json["Resources"].values()
        if resource.get("DeletionPolicy") == "Retain"
    )
    assert retained == ["AWS::ApiGateway::Account", "AWS::IAM::Role"]


# --- logs that expire -----------------------------------------------------------------------


def log_group_retention(synthesized: Synthesized) -> dict[str, int]:
    """Function logical id -> the retention of its log group (0 when it has none)."""
    groups = synthesized.resources("AWS::Logs::LogGroup")
    by_name = {
        json.dumps(group["Properties"]["LogGroupName"]): group
        for group in groups.values()
        if "LogGroupName" in group["Properties"]
    }
    found: dict[str, int] = {}
    for logical_id, resource in synthesized.resources("AWS::Lambda::Function").items():
        reference = resource["Properties"].get("LoggingConfig", {}).get("LogGroup")
        if reference is not None:
            group = groups[reference["Ref"]]
        else:
            name = {"Fn::Join": ["", ["/aws/lambda/", {"Ref": logical_id}]]}
            group = by_name.get(json.dumps(name), {"Properties": {}})
        found[logical_id] = group["Properties"].get("RetentionInDays", 0)
    return found


@pytest.mark.parametrize(("variant", "days"), [("default", 30), ("kept", 400)])
def test_every_function_cdks_own_included_logs_to_a_group_that_expires(
    synthesized: Synthesized, kept: Synthesized, variant: str, days: int
) -> None:
    template = synthesized if variant == "default" else kept
    retention = log_group_retention(template)
    assert retention and set(retention.values()) == {days}, retention
    if variant == "default":  # the S3 auto-delete handler (only where buckets go with the stack)
        assert any(name.startswith("CustomS3AutoDeleteObjects") for name in retention)


def test_cdks_auto_delete_handler_runs_only_once_its_log_group_exists(
    synthesized: Synthesized,
) -> None:
    [group_id] = [
        logical_id
        for logical_id, group in synthesized.resources("AWS::Logs::LogGroup").items()
        if "LogGroupName" in group["Properties"]
    ]
    auto_deletes = synthesized.resources("Custom::S3AutoDeleteObjects").values()
    assert len(auto_deletes) == 2
    for resource in auto_deletes:
        assert group_id in resource["DependsOn"]


def test_log_retention_accepts_every_value_cloudwatch_accepts() -> None:
    assert tuple(RETENTION) == CLOUDWATCH_RETENTION_DAYS
    stack = cdk.Stack(cdk.App())
    for days in CLOUDWATCH_RETENTION_DAYS:
        logs.LogGroup(stack, f"Group{days}", retention=retention_days(days))
    rendered = [
        group.retention_in_days
        for group in stack.node.find_all()
        if isinstance(group, logs.CfnLogGroup)
    ]
    assert tuple(rendered) == CLOUDWATCH_RETENTION_DAYS


# --- least privilege ------------------------------------------------------------------------


def test_the_mcp_server_may_only_read_the_collection(synthesized: Synthesized) -> None:
    [policy] = synthesized.resources("AWS::OpenSearchServerless::AccessPolicy").values()
    rendered = json.dumps(policy["Properties"]["Policy"])
    mcp_role = function(synthesized, "mcp")[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    document = json.loads(
        "".join(
            part if isinstance(part, str) else f"<{part.get('Fn::GetAtt', ['name'])[0]}>"
            for part in policy["Properties"]["Policy"]["Fn::Join"][1]
        )
    )
    by_kind = {statement["Description"]: statement["Principal"] for statement in document}
    assert f"<{mcp_role}>" in by_kind["chatbot read access"]
    assert "chatbot write access" not in by_kind  # no function of the stack writes documents
    assert mcp_role in rendered


# --- failed engine invocations --------------------------------------------------------------


def failure_queue(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    [(logical_id, queue)] = synthesized.resources("AWS::SQS::Queue").items()
    return logical_id, queue


def test_a_failed_engine_invocation_goes_to_a_queue_without_lambda_retries(
    synthesized: Synthesized,
) -> None:
    engine_id, _ = function(synthesized, "engine")
    queue_id, _ = failure_queue(synthesized)
    [config] = synthesized.resources("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"] == {
        "FunctionName": {"Ref": engine_id},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
    }
    assert permissions(synthesized, "engine")["sqs:SendMessage"] == {f"{queue_id}.Arn"}


def test_a_resend_may_retry_only_once_no_invocation_can_still_be_answering(
    synthesized: Synthesized,
) -> None:
    _, engine = function(synthesized, "engine")
    _, websocket = function(synthesized, "websocket")
    answer_timeout = websocket["Properties"]["Environment"]["Variables"]["ANSWER_TIMEOUT_SECONDS"]
    assert int(answer_timeout) == engine["Properties"]["Timeout"] + 60


def test_the_failure_queue_is_encrypted_and_refuses_plain_http(synthesized: Synthesized) -> None:
    queue_id, queue = failure_queue(synthesized)
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    [policy] = synthesized.resources("AWS::SQS::QueuePolicy").values()
    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_a_message_in_the_failure_queue_alarms_on_the_alarm_topic(
    synthesized: Synthesized,
) -> None:
    queue_id, _ = failure_queue(synthesized)
    [topic_id] = synthesized.resources("AWS::SNS::Topic")
    [alarm] = [
        alarm["Properties"]
        for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/SQS"
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
    ]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Maximum",
        "GreaterThanThreshold",
        0,
    )
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_the_websocket_handler_may_still_only_invoke_the_engine(synthesized: Synthesized) -> None:
    engine_id, _ = function(synthesized, "engine")
    actions = {
        action
        for statement in role_statements(synthesized, "websocket")
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if not action.startswith(("dynamodb:", "secretsmanager:", "execute-api:", "logs:"))
    }
    assert actions == {"lambda:InvokeFunction"}
    assert permissions(synthesized, "websocket")["lambda:InvokeFunction"] == {f"{engine_id}.Arn"}


# --- outputs --------------------------------------------------------------------------------


def test_outputs_name_what_an_operator_needs(synthesized: Synthesized) -> None:
    outputs = synthesized.json["Outputs"]
    assert {
        "CollectionEndpoint",
        "CollectionArn",
        "EngineFunctionName",
        "AlarmTopicArn",
        "SessionsTableName",
        "ConnectionsTableName",
        "ConversationsTableName",
        "AnalyticsTableName",
        "RecordsTableName",
    } <= set(outputs)
    engine_id, _ = function(synthesized, "engine")
    assert outputs["EngineFunctionName"]["Value"] == {"Ref": engine_id}
    [topic_id] = synthesized.resources("AWS::SNS::Topic")
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": topic_id}
    for name in ("sessions", "connections", "conversations", "analytics", "records"):
        [table_id] = [
            logical_id
            for logical_id in synthesized.resources("AWS::DynamoDB::GlobalTable")
            if logical_id.startswith(f"Tables{name.title()}")
        ]
        assert outputs[f"{name.title()}TableName"]["Value"] == {"Ref": table_id}
    [collection_id] = synthesized.resources("AWS::OpenSearchServerless::Collection")
    assert outputs["CollectionEndpoint"]["Value"] == {
        "Fn::GetAtt": [collection_id, "CollectionEndpoint"]
    }
    assert outputs["CollectionArn"]["Value"] == {"Fn::GetAtt": [collection_id, "Arn"]}
