"""vectorStore=s3vectors: an S3 Vectors bucket and index, least privilege, no OpenSearch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized, assert_cfn_lint_clean, synthesize
from tests.infra.test_operations import STACK_ID, resolve

INGESTER = "arn:aws:iam::123456789012:role/ingest"


@pytest.fixture(scope="module")
def s3v(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize({"vectorStore": "s3vectors"}, tmp_path_factory.mktemp("s3v"))


@pytest.fixture(scope="module")
def s3v_retained(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        {"vectorStore": "s3vectors", "retainData": "true", "ingestPrincipalArns": INGESTER},
        tmp_path_factory.mktemp("s3v-retain"),
    )


def _statements(synth: Synthesized, role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for name, policy in synth.resources("AWS::IAM::Policy").items()
        if name.startswith(role_prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "s3vectors" in json.dumps(statement["Action"])
    ]


def test_s3vectors_stack_has_no_opensearch_resource(s3v: Synthesized) -> None:
    types = {resource["Type"] for resource in s3v.json["Resources"].values()}
    assert not [t for t in types if t.startswith("AWS::OpenSearchServerless::")]
    assert "aoss" not in json.dumps(s3v.json)
    assert not [name for name in s3v.json["Outputs"] if name.startswith("Collection")]


def test_the_bucket_is_encrypted_with_s3_managed_keys_and_destroyed_by_default(
    s3v: Synthesized,
) -> None:
    [bucket] = s3v.resources("AWS::S3Vectors::VectorBucket").values()
    assert bucket["Properties"]["EncryptionConfiguration"] == {"SseType": "AES256"}
    assert bucket["DeletionPolicy"] == "Delete"
    [index] = s3v.resources("Custom::S3VectorsIndex").values()
    assert index["Properties"]["Retain"] == "false"


def test_the_index_takes_its_dimension_from_the_embedding_settings(s3v: Synthesized) -> None:
    [index] = s3v.resources("Custom::S3VectorsIndex").values()
    assert index["Properties"]["Dimensions"] == 1024
    assert index["Properties"]["IndexName"] == "documents"
    engine_env = [
        f["Properties"]["Environment"]["Variables"]
        for name, f in s3v.resources("AWS::Lambda::Function").items()
        if name.startswith(("Engine", "McpServer"))
    ]
    assert len(engine_env) == 2
    for env in engine_env:
        assert env["VECTOR_STORE"] == "s3vectors"
        assert env["S3VECTORS_INDEX"] == "documents"
        assert env["EMBEDDING_DIMENSIONS"] == "1024"
        assert "S3VECTORS_BUCKET" in env
        assert "OPENSEARCH_ENDPOINT" not in env


@pytest.mark.parametrize("role", ["Engine", "McpServer"])
def test_engine_and_mcp_server_may_only_query_and_get_on_the_index(
    s3v: Synthesized, role: str
) -> None:
    [statement] = _statements(s3v, role)
    assert sorted(statement["Action"]) == ["s3vectors:GetVectors", "s3vectors:QueryVectors"]
    assert json.dumps(statement["Resource"]).endswith('"/index/documents"]]}')


def test_the_setup_function_may_only_manage_that_index(s3v: Synthesized) -> None:
    [statement] = _statements(s3v, "S3VectorsIndexSetup")
    assert sorted(statement["Action"]) == [
        "s3vectors:CreateIndex",
        "s3vectors:DeleteIndex",
        "s3vectors:UpdateIndexMode",
    ]
    assert "*" not in json.dumps(statement)


def test_outputs_name_the_store_bucket_and_index(s3v: Synthesized) -> None:
    outputs = s3v.json["Outputs"]
    assert outputs["VectorStore"]["Value"] == "s3vectors"
    assert outputs["VectorIndexName"]["Value"] == "documents"
    assert {"VectorBucketName", "VectorIndexArn"} <= set(outputs)


def test_retain_data_keeps_bucket_and_index(s3v_retained: Synthesized) -> None:
    [bucket] = s3v_retained.resources("AWS::S3Vectors::VectorBucket").values()
    assert bucket["DeletionPolicy"] == "Retain"
    [index] = s3v_retained.resources("Custom::S3VectorsIndex").values()
    assert index["Properties"]["Retain"] == "true"


def test_each_creation_of_the_stack_names_a_new_bucket_and_everything_agrees_on_it(
    s3v_retained: Synthesized,
) -> None:
    # A bucket retainData kept through a destroy holds its name: a fixed name would make the
    # next deployment of the stage fail to create its bucket.
    where = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    first = {"AWS::StackId": STACK_ID.format("3f2a5c10"), **where}
    second = {"AWS::StackId": STACK_ID.format("9b7d0e42"), **where}
    [bucket] = s3v_retained.resources("AWS::S3Vectors::VectorBucket").values()
    name = bucket["Properties"]["VectorBucketName"]
    assert resolve(name, first) == "chatbot-dev-vectors-3f2a5c10"
    assert resolve(name, second) == "chatbot-dev-vectors-9b7d0e42"
    [index] = s3v_retained.resources("Custom::S3VectorsIndex").values()
    assert resolve(index["Properties"]["VectorBucketName"], first) == resolve(name, first)
    outputs = s3v_retained.json["Outputs"]
    assert resolve(outputs["VectorBucketName"]["Value"], first) == resolve(name, first)
    engine = [
        f["Properties"]["Environment"]["Variables"]
        for f in s3v_retained.resources("AWS::Lambda::Function").values()
        if "S3VECTORS_BUCKET" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert engine
    assert all(resolve(e["S3VECTORS_BUCKET"], first) == resolve(name, first) for e in engine)
    # The grants name the index in that bucket.
    for statement in _statements(s3v_retained, "Engine"):
        resources = statement["Resource"]
        for arn in resources if isinstance(resources, list) else [resources]:
            assert resolve(arn, first) == (
                "arn:aws:s3vectors:us-east-1:123456789012:"
                "bucket/chatbot-dev-vectors-3f2a5c10/index/documents"
            )


def test_a_bucket_name_the_service_would_refuse_is_refused_at_synth() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_logs as logs

    from stacks.constructs.vector_store import S3VectorStore

    stack = cdk.Stack(cdk.App(), "Names")
    for bad in ("Chatbot-Dev", "-chatbot", "chatbot--dev", "a" * 55):
        with pytest.raises(ValueError, match="bucket_name"):
            S3VectorStore(
                stack,
                f"Store{len(bad)}{bad[:3].strip('-')}",
                bucket_name=bad,
                index_name="documents",
                embedding_model_id="amazon.titan-embed-text-v2:0",
                embedding_dimensions=1024,
                log_retention=logs.RetentionDays.ONE_WEEK,
                unique_per_stack=True,
            )


def test_ingesters_get_write_on_the_index_in_the_bucket_policy(
    s3v_retained: Synthesized,
) -> None:
    [policy] = s3v_retained.resources("AWS::S3Vectors::VectorBucketPolicy").values()
    [statement] = policy["Properties"]["Policy"]["Statement"]
    assert statement["Principal"] == {"AWS": [INGESTER]}
    assert sorted(statement["Action"]) == [
        "s3vectors:DeleteVectors",
        "s3vectors:GetVectors",
        "s3vectors:ListVectors",
        "s3vectors:PutVectors",
        "s3vectors:QueryVectors",
    ]


def test_the_default_store_is_opensearch(synthesized: Synthesized) -> None:
    assert synthesized.json["Outputs"]["VectorStore"]["Value"] == "opensearch"
    assert synthesized.resources("AWS::OpenSearchServerless::Collection")
    assert not synthesized.resources("AWS::S3Vectors::VectorBucket")


def test_an_unknown_vector_store_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="vectorStore"):
        synthesize({"vectorStore": "pinecone"}, tmp_path)


def test_a_malformed_ingest_principal_is_refused_with_s3vectors(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="not an IAM role or user ARN"):
        synthesize({"vectorStore": "s3vectors", "ingestPrincipalArns": "ops"}, tmp_path)


def test_the_s3vectors_template_is_cfn_lint_clean(s3v: Synthesized) -> None:
    # W3005 (a redundant DependsOn) is the CDK's own, as on the OpenSearch stack.
    assert_cfn_lint_clean(s3v.json, allowed_warnings={"W3005"})


def _depends_on(template: dict[str, Any], logical_id: str) -> set[str]:
    """Every resource ``logical_id`` needs, directly or not: its DependsOn, and the targets
    of its Ref and Fn::GetAtt. CloudFormation deletes a resource before anything it needs."""
    resources = template["Resources"]

    def direct(name: str) -> set[str]:
        resource = resources[name]
        found = set(
            [resource["DependsOn"]]
            if isinstance(resource.get("DependsOn"), str)
            else resource.get("DependsOn", [])
        )

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if isinstance(value.get("Ref"), str) and value["Ref"] in resources:
                    found.add(value["Ref"])
                attribute = value.get("Fn::GetAtt")
                if isinstance(attribute, list) and attribute[0] in resources:
                    found.add(attribute[0])
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(resource.get("Properties", {}))
        return found

    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        for needed in direct(todo.pop()) - seen:
            seen.add(needed)
            todo.append(needed)
    return seen


def test_cdk_destroy_deletes_the_index_while_the_bucket_and_its_setup_grants_remain(
    s3v: Synthesized,
) -> None:
    # A vector bucket cannot be deleted while it holds an index, and the index is deleted by
    # the setup function: so the index must go first, while the bucket, the setup function
    # and the policy that lets it call DeleteIndex are still there.
    template = s3v.json
    [index] = s3v.resources("Custom::S3VectorsIndex")
    [bucket] = s3v.resources("AWS::S3Vectors::VectorBucket")
    needed = _depends_on(template, index)
    assert bucket in needed
    setup_policies = [
        name
        for name, policy in s3v.resources("AWS::IAM::Policy").items()
        if any(
            "s3vectors:DeleteIndex" in json.dumps(statement["Action"])
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    assert setup_policies and set(setup_policies) <= needed
    # And nothing the bucket needs waits on the index (no cycle for CloudFormation to refuse).
    assert index not in _depends_on(template, bucket)
