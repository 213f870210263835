"""Stack outputs an operator needs: where the data is, what to watch, what to invoke."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from stacks.constructs.tables import ChatbotTables
from stacks.constructs.vector_search import VectorSearch
from stacks.constructs.vector_store import S3VectorStore


def operator_outputs(
    stack: Stack,
    *,
    search: VectorSearch | S3VectorStore,
    engine: lambda_.IFunction,
    engine_failures: sqs.IQueue,
    alarm_topic: sns.ITopic,
    tables: ChatbotTables,
) -> None:
    """Named outputs (docs/analytics.md and the README refer to them by these names)."""
    outputs: dict[str, tuple[str, str]] = {}
    if isinstance(search, S3VectorStore):
        outputs["VectorStore"] = ("s3vectors", "The document store (VECTOR_STORE)")
        outputs["VectorBucketName"] = (search.bucket_name, "S3VECTORS_BUCKET for `chatbot ingest`")
        outputs["VectorIndexName"] = (search.index_name, "S3VECTORS_INDEX for `chatbot ingest`")
        outputs["VectorIndexArn"] = (search.index_arn, "Grant ingesters s3vectors:* on this")
    else:
        outputs["VectorStore"] = ("opensearch", "The document store (VECTOR_STORE)")
        outputs["CollectionEndpoint"] = (
            search.endpoint,
            "OPENSEARCH_ENDPOINT for `chatbot ingest` (CHATBOT_ENV=aws)",
        )
        outputs["CollectionArn"] = (
            search.collection_arn,
            "Grant aoss:APIAccessAll on this to ingesters",
        )
    outputs |= {
        "EngineFunctionName": (engine.function_name, "The engine function (its logs, metrics)"),
        "EngineFailureQueueUrl": (
            engine_failures.queue_url,
            "Records of the engine's failed asynchronous invocations",
        ),
        "AlarmTopicArn": (alarm_topic.topic_arn, "Subscribe here to the stack's alarms"),
    }
    for name in ("sessions", "connections", "conversations", "analytics", "records", "limits"):
        outputs[f"{name.title()}TableName"] = (
            tables.name(name),
            f"The {name} table ({name.upper()}_TABLE)",
        )
    for output_id, (value, description) in outputs.items():
        CfnOutput(stack, output_id, value=value, description=description)
