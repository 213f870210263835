"""Lambda entry point of the custom resource that creates the S3 Vectors index at deploy time.

CloudFormation's ``AWS::S3Vectors::Index`` takes no ``textSearchConfigurations`` (aws-cdk-lib
2.275.0) and CreateIndex takes no index mode, so the index is created here from the one
definition in ``chatbot.adapters.aws.s3vectors_index`` and then set to ``ENHANCED`` (which
full-text and hybrid queries need) with UpdateIndexMode.

Create makes the index. Update with another name, bucket, dimension or definition makes a new
index under a new physical id; CloudFormation then sends Delete for the old one (an index's
dimension and metadata keys are fixed at creation, so there is nothing to adjust in place;
documents must be ingested again). Delete removes the index unless ``Retain`` is true, so
that `cdk destroy` can remove the vector bucket, which must be empty of indexes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from chatbot.adapters.aws.s3vectors_index import INDEX_MODE, create_index_request
from chatbot.redaction import RedactingFormatter

logger = Logger(service="chatbot", logger_formatter=RedactingFormatter())


class IndexAdminApi(Protocol):
    """The s3vectors calls this resource makes (boto3's client has them)."""

    def create_index(self, **kwargs: Any) -> Any: ...

    def update_index_mode(self, **kwargs: Any) -> Any: ...

    def delete_index(self, **kwargs: Any) -> Any: ...


def physical_id(bucket: str, index: str) -> str:
    """One id per bucket and index: a change of either replaces the resource."""
    return f"{bucket}/{index}"


def handle_event(event: dict[str, Any], client: IndexAdminApi) -> dict[str, Any]:
    """Create the index the properties describe, or delete the one the event names."""
    request = CloudFormationCustomResourceEvent(event)
    properties = request.resource_properties
    if request.request_type == "Delete":
        return _delete(request.physical_resource_id, properties, client)
    bucket = str(properties["VectorBucketName"])
    index = str(properties["IndexName"])
    # CloudFormation passes every property to the function as a string.
    dimensions = int(properties["Dimensions"])
    if request.request_type == "Update":
        old = request.old_resource_properties or {}
        unchanged = all(
            str(old.get(key)) == str(properties.get(key))
            for key in ("VectorBucketName", "IndexName", "Dimensions", "DefinitionVersion")
        )
        if unchanged:
            # Only Retain (or the service token) changed: the index stays as it is.
            logger.info("index unchanged", extra={"index": index})
            return {"PhysicalResourceId": request.physical_resource_id}
        if physical_id(bucket, index) == request.physical_resource_id:
            raise ValueError(
                "a new index definition needs a new IndexName: an S3 Vectors index's dimension"
                " and metadata keys are fixed when it is created"
            )
    client.create_index(**create_index_request(bucket, index, dimensions))
    client.update_index_mode(vectorBucketName=bucket, indexName=index, indexMode=INDEX_MODE)
    logger.info("index created", extra={"index": index, "dimensions": dimensions})
    return {"PhysicalResourceId": physical_id(bucket, index), "Data": {"IndexName": index}}


def _delete(resource_id: str, properties: dict[str, Any], client: IndexAdminApi) -> dict[str, Any]:
    bucket, _, index = resource_id.partition("/")
    if str(properties.get("Retain", "false")).lower() == "true" or not index:
        # Retained with its bucket (retainData); or a create that failed before any index.
        logger.info("index left in place", extra={"index": resource_id})
        return {"PhysicalResourceId": resource_id}
    try:
        client.delete_index(vectorBucketName=bucket, indexName=index)
    except ClientError as error:
        # Already gone (a retried Delete, or removed by hand): what Delete wants.
        if error.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
    logger.info("index deleted", extra={"index": resource_id})
    return {"PhysicalResourceId": resource_id}


@lru_cache(maxsize=1)
def _client() -> IndexAdminApi:
    from chatbot.adapters.aws.s3vectors import s3vectors_client

    return s3vectors_client()  # type: ignore[return-value]


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_event(event, _client())
