"""Lambda entry point of the custom resource that creates the k-NN index at deploy time."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from chatbot.config import load_settings
from chatbot.redaction import RedactingFormatter
from chatbot.search_index import SearchClient, ensure_index_when_authorized

logger = Logger(service="chatbot", logger_formatter=RedactingFormatter())

# A data access policy usually takes effect within a minute or two; a 403 that lasts longer
# than this is a real misconfiguration, better reported than waited on.
AUTHORIZATION_WAIT_SECONDS = 300.0
# Kept back from the Lambda timeout so a failure still reaches CloudFormation as a failure,
# not as a timeout it would wait an hour on.
RESPONSE_MARGIN_SECONDS = 20.0


def handle_event(
    event: dict[str, Any], client: SearchClient, *, timeout_seconds: float
) -> dict[str, Any]:
    """Create or update the index the resource properties describe; Delete leaves it."""
    request = CloudFormationCustomResourceEvent(event)
    if request.request_type == "Delete":
        # The index goes with its collection when the stack is deleted; when the collection
        # is retained, its index (and the documents in it) must be retained with it. Deleting
        # it on a rename would also drop documents the RAG code may still be reading.
        logger.info("index left in place", extra={"index": request.physical_resource_id})
        return {"PhysicalResourceId": request.physical_resource_id}
    properties = request.resource_properties
    name = str(properties["IndexName"])
    # CloudFormation passes every property to the function as a string.
    dimensions = int(properties["Dimensions"])
    created = ensure_index_when_authorized(
        client,
        name,
        dimensions,
        timeout_seconds=timeout_seconds,
        on_retry=lambda attempt, delay: logger.info(
            "collection refused access; the data access policy may still be propagating",
            extra={"attempt": attempt, "retry_in_seconds": delay},
        ),
    )
    logger.info(
        "index ready",
        extra={"index": name, "dimensions": dimensions, "index_created": created},
    )
    return {"PhysicalResourceId": name, "Data": {"IndexName": name}}


@lru_cache(maxsize=1)
def _collection_client() -> SearchClient:
    from chatbot.adapters.aws.opensearch import opensearch_client

    settings = load_settings()
    if not settings.opensearch_endpoint:
        raise ValueError("OPENSEARCH_ENDPOINT must be set in AWS")
    client: SearchClient = opensearch_client(
        settings.opensearch_endpoint, settings.opensearch_region or settings.aws_region
    )
    return client


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis() / 1000 - RESPONSE_MARGIN_SECONDS
    return handle_event(
        event,
        _collection_client(),
        timeout_seconds=max(0.0, min(AUTHORIZATION_WAIT_SECONDS, remaining)),
    )
