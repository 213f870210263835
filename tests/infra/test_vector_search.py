"""The VectorSearch construct's template: collection, policies, grants, index resource, checks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

# Node 20 is what this machine has; jsii's banner about it is not a finding.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from chatbot.search_index import mapping_version
from stacks.constructs.vector_search import VectorSearch
from tests.infra.conftest import TemplateResources, assert_cfn_lint_clean, construct_test_app

COLLECTION = "chatbot-test-docs"
INDEX = "documents"
DIMENSIONS = 1024
EMBEDDING_MODEL = "amazon.titan-embed-text-v2:0"


@dataclass
class VectorStack(TemplateResources):
    template: Template
    json: dict[str, Any]
    # Logical ids: "collection", the roles "reader", "writer", "both" and "setup", and
    # "setup_function".
    ids: dict[str, str]
    # Every acknowledgment in the construct tree: rule id -> reason.
    acknowledgments: dict[str, str]

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        [(name, resource)] = self.resources(resource_type).items()
        return name, resource


def _logical_id(construct: Any) -> str:
    return cast(str, cdk.Stack.of(construct).get_logical_id(construct.node.default_child))


@pytest.fixture(scope="module")
def vector_stack(tmp_path_factory: pytest.TempPathFactory) -> VectorStack:
    """One synthesis for the module, with cdk-nag on: synth raises on any finding."""
    outdir: Path = tmp_path_factory.mktemp("cdk.out")
    app = construct_test_app(outdir)
    stack = cdk.Stack(app, "VectorSearchTest")
    search = VectorSearch(
        stack,
        "Search",
        collection_name=COLLECTION,
        index_name=INDEX,
        embedding_model_id=EMBEDDING_MODEL,
        embedding_dimensions=DIMENSIONS,
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    principal = iam.ServicePrincipal("lambda.amazonaws.com")
    roles = {
        name: iam.Role(stack, name.title(), assumed_by=principal)
        for name in ("reader", "writer", "both")
    }
    # Granted after the construct exists: the data access policy must still list them.
    search.grant_read(roles["reader"])
    search.grant_write(roles["writer"])
    search.grant_read(roles["both"])
    search.grant_write(roles["both"])
    app.synth()
    template = Template.from_stack(stack)
    ids = {name: _logical_id(role) for name, role in roles.items()}
    ids["collection"] = stack.get_logical_id(search.collection)
    setup = search.node.find_child("IndexSetup")
    ids["setup"] = _logical_id(setup.node.find_child("Role"))
    ids["setup_function"] = _logical_id(setup.node.find_child("Function"))
    acknowledgments: dict[str, str] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledgments.update(entry.data)
    return VectorStack(template, template.to_json(), ids, acknowledgments)


def rendered(value: Any) -> str:
    """A string property with its intrinsic functions replaced by readable placeholders."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        return ".".join(value["Fn::GetAtt"])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return cast(str, separator).join(rendered(part) for part in parts)
    raise AssertionError(f"unexpected intrinsic {value}")


def policy_document(vector_stack: VectorStack, resource_type: str, kind: str) -> Any:
    [policy] = [
        resource["Properties"]
        for resource in vector_stack.resources(resource_type).values()
        if resource["Properties"]["Type"] == kind
    ]
    assert policy["Name"] == COLLECTION
    return json.loads(rendered(policy["Policy"]))


# --- collection and security policies ----------------------------------------------------


def test_collection_is_a_vector_search_collection_without_standby_replicas(
    vector_stack: VectorStack,
) -> None:
    vector_stack.template.has_resource_properties(
        "AWS::OpenSearchServerless::Collection",
        {"Name": COLLECTION, "Type": "VECTORSEARCH", "StandbyReplicas": "DISABLED"},
    )


def test_collection_is_created_after_its_security_policies(vector_stack: VectorStack) -> None:
    _, collection = vector_stack.one("AWS::OpenSearchServerless::Collection")
    policies = vector_stack.resources("AWS::OpenSearchServerless::SecurityPolicy")
    assert sorted(collection["DependsOn"]) == sorted(policies)


def test_collection_is_deleted_with_the_stack_by_default(vector_stack: VectorStack) -> None:
    _, collection = vector_stack.one("AWS::OpenSearchServerless::Collection")
    assert collection["DeletionPolicy"] == "Delete"


def test_encryption_policy_uses_an_aws_owned_key_for_this_collection(
    vector_stack: VectorStack,
) -> None:
    assert policy_document(
        vector_stack, "AWS::OpenSearchServerless::SecurityPolicy", "encryption"
    ) == {
        "Rules": [{"ResourceType": "collection", "Resource": [f"collection/{COLLECTION}"]}],
        "AWSOwnedKey": True,
    }


def test_network_policy_opens_the_collection_endpoint_only_not_dashboards(
    vector_stack: VectorStack,
) -> None:
    assert policy_document(
        vector_stack, "AWS::OpenSearchServerless::SecurityPolicy", "network"
    ) == [
        {
            "Rules": [{"ResourceType": "collection", "Resource": [f"collection/{COLLECTION}"]}],
            "AllowFromPublic": True,
        }
    ]


# --- data access ---------------------------------------------------------------------------


def test_data_access_policy_grants_exactly_the_registered_principals(
    vector_stack: VectorStack,
) -> None:
    ids = vector_stack.ids

    def statement(kind: str, permissions: list[str], principals: list[str]) -> dict[str, Any]:
        return {
            "Description": f"chatbot {kind} access",
            "Rules": [
                {
                    "ResourceType": "index",
                    "Resource": [f"index/{COLLECTION}/*"],
                    "Permission": permissions,
                }
            ],
            "Principal": [f"{ids[name]}.Arn" for name in principals],
        }

    read = ["aoss:ReadDocument", "aoss:DescribeIndex"]
    assert policy_document(vector_stack, "AWS::OpenSearchServerless::AccessPolicy", "data") == [
        statement("read", read, ["reader"]),
        # A role granted read and write appears once, with write (which includes read).
        statement("write", [*read, "aoss:WriteDocument"], ["writer", "both"]),
        statement(
            "setup", ["aoss:DescribeIndex", "aoss:CreateIndex", "aoss:UpdateIndex"], ["setup"]
        ),
    ]


def test_each_granted_role_may_call_this_collection_and_nothing_else(
    vector_stack: VectorStack,
) -> None:
    collection_arn = {"Fn::GetAtt": [vector_stack.ids["collection"], "Arn"]}
    api_access: list[str] = []
    for policy in vector_stack.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if any(action.startswith("aoss:") for action in actions):
                assert statement == {
                    "Action": "aoss:APIAccessAll",
                    "Effect": "Allow",
                    "Resource": collection_arn,
                }
                api_access += [role["Ref"] for role in policy["Properties"]["Roles"]]
    ids = vector_stack.ids
    assert sorted(api_access) == sorted(ids[name] for name in ("reader", "writer", "both", "setup"))


# --- the index, created at deploy time -----------------------------------------------------


def test_index_resource_carries_name_collection_dimensions_and_mapping_version(
    vector_stack: VectorStack,
) -> None:
    vector_stack.template.has_resource_properties(
        "Custom::OpenSearchIndex",
        {
            "ServiceToken": Match.any_value(),
            "IndexName": INDEX,
            # A new collection changes this, so the index is created in it too.
            "Collection": COLLECTION,
            "Dimensions": DIMENSIONS,
            "MappingVersion": mapping_version(DIMENSIONS),
        },
    )


def test_index_is_created_after_the_collection_and_its_data_access_policy(
    vector_stack: VectorStack,
) -> None:
    _, index = vector_stack.one("Custom::OpenSearchIndex")
    [access_policy] = vector_stack.resources("AWS::OpenSearchServerless::AccessPolicy")
    assert set(index["DependsOn"]) >= {vector_stack.ids["collection"], access_policy}


def test_setup_function_is_configured_for_the_collection(vector_stack: VectorStack) -> None:
    vector_stack.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "chatbot.handlers.search_index.handler",
            "Runtime": "python3.14",
            "Timeout": 360,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "OPENSEARCH_ENDPOINT": {
                            "Fn::GetAtt": [vector_stack.ids["collection"], "CollectionEndpoint"]
                        },
                        "OPENSEARCH_INDEX": INDEX,
                        "OPENSEARCH_REGION": {"Ref": "AWS::Region"},
                        "BEDROCK_EMBEDDING_MODEL": EMBEDDING_MODEL,
                        "EMBEDDING_DIMENSIONS": str(DIMENSIONS),
                    }
                )
            },
        },
    )


def test_no_log_group_keeps_logs_forever(vector_stack: VectorStack) -> None:
    for log_group in vector_stack.resources("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 30


# --- checks --------------------------------------------------------------------------------


def test_synth_passes_cdk_nag_with_only_reasoned_acknowledgments(
    vector_stack: VectorStack,
) -> None:
    # The fixture's synth would have raised on any unacknowledged finding.
    setup_function = vector_stack.ids["setup_function"]
    assert set(vector_stack.acknowledgments) == {
        f"Annotation::AwsSolutions-IAM5[Resource::<{setup_function}.Arn>:*]"
    }
    assert all(len(reason) > 40 for reason in vector_stack.acknowledgments.values())


def test_template_passes_cfn_lint(vector_stack: VectorStack) -> None:
    # W3005: CDK itself adds a DependsOn on a function's role beside the GetAtt of it.
    assert_cfn_lint_clean(vector_stack.json, allowed_warnings={"W3005"})


# --- props -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ab", "Chatbot-docs", "1chatbot", "chatbot_docs", "a" * 33])
def test_collection_name_must_be_a_valid_policy_name(name: str) -> None:
    stack = cdk.Stack(cdk.App(), "Invalid")
    with pytest.raises(ValueError, match="collection_name"):
        VectorSearch(
            stack,
            "Search",
            collection_name=name,
            index_name=INDEX,
            embedding_model_id=EMBEDDING_MODEL,
            embedding_dimensions=DIMENSIONS,
            log_retention=logs.RetentionDays.ONE_MONTH,
        )
