"""`chatbot doctor`'s document-store finding: which store, and its idle cost from chatbot.cost."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from chatbot.cost.estimate import idle_per_month
from chatbot.cost.prices import shipped_prices
from chatbot.doctor.findings import Status
from chatbot.doctor.inputs import deploy_inputs
from chatbot.doctor.store import check_s3vectors_buckets, check_vector_store


def test_the_default_store_is_opensearch() -> None:
    assert deploy_inputs({}, {}).vector_store == "opensearch"
    assert deploy_inputs({"vectorStore": "s3vectors"}, {}).vector_store == "s3vectors"
    assert deploy_inputs({"vectorStore": "s3vectors"}, {"vectorStore": "x"}).vector_store == "x"


def test_opensearch_says_its_idle_cost_and_the_alternatives() -> None:
    finding = check_vector_store("opensearch")

    assert finding.status is Status.OK
    assert finding.found == (
        "OpenSearch Serverless (vectorStore=opensearch), idles at about $175.20 a month; "
        "-c vectorStore=s3vectors idles at $0.01"
    )


def test_s3vectors_says_its_idle_cost_and_the_alternatives() -> None:
    finding = check_vector_store("s3vectors")

    assert finding.status is Status.OK
    assert finding.found == (
        "Amazon S3 Vectors (vectorStore=s3vectors), idles at about $0.01 a month; "
        "-c vectorStore=opensearch idles at $175.20"
    )


def test_the_figures_are_the_cost_modules() -> None:
    prices = shipped_prices()
    for store in ("opensearch", "s3vectors"):
        assert f"about ${idle_per_month(prices, store):,.2f} a month" in (
            check_vector_store(store).found
        )


def test_an_unknown_store_fails_with_the_allowed_values() -> None:
    finding = check_vector_store("pinecone")

    assert finding.status is Status.FAIL
    assert finding.fix.startswith("-c vectorStore=<one of opensearch, s3vectors>")


# --- s3vectors buckets ---------------------------------------------------------------------


def _buckets(*names: str) -> list[dict[str, Any]]:
    return [
        {
            "vectorBucketName": name,
            "vectorBucketArn": f"arn:aws:s3vectors:eu-west-1:123456789012:bucket/{name}",
            "creationTime": "2026-01-01T00:00:00Z",
        }
        for name in names
    ]


def _client() -> Any:
    return boto3.client(
        "s3vectors",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _check(*pages: list[dict[str, Any]]) -> Any:
    client = _client()
    with Stubber(client) as stub:
        for number, page in enumerate(pages):
            response: dict[str, Any] = {"vectorBuckets": page}
            expected: dict[str, Any] = {"prefix": "chatbot-prod-vectors"}
            if number:
                expected["nextToken"] = f"page-{number}"
            if number < len(pages) - 1:
                response["nextToken"] = f"page-{number + 1}"
            stub.add_response("list_vector_buckets", response, expected)
        finding = check_s3vectors_buckets(client, "prod", "eu-west-1")
        stub.assert_no_pending_responses()
    return finding


def test_no_bucket_of_the_stage_yet_is_ok() -> None:
    finding = _check([])

    assert finding.status is Status.OK
    assert finding.found == "S3 Vectors answers in eu-west-1; no chatbot-prod-vectors-* yet"


def test_only_the_stages_own_buckets_are_counted_over_every_page() -> None:
    # The prefix also matches another stage whose name starts the same ("prod-vectors" is
    # not "prod"), and a bucket someone named by hand.
    finding = _check(
        _buckets("chatbot-prod-vectors-3f2a5c10", "chatbot-prod-vectors-extra"),
        _buckets("chatbot-prod-vectorsx-0a1b2c3d"),
    )

    assert finding.status is Status.OK
    assert "1 of this stage: chatbot-prod-vectors-3f2a5c10" in finding.found


def test_buckets_a_destroy_kept_are_a_warning_with_the_way_to_delete_them() -> None:
    finding = _check(_buckets("chatbot-prod-vectors-3f2a5c10", "chatbot-prod-vectors-9b7d0e42"))

    assert finding.status is Status.WARN
    assert "2 of this stage" in finding.found
    assert "billed for their storage" in finding.found
    assert "delete-vector-bucket" in finding.fix


def test_a_region_whose_endpoint_does_not_answer_fails_with_the_way_out() -> None:
    class Unreachable:
        def list_vector_buckets(self, **request: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://s3vectors.xx-east-9.api.aws")

    finding = check_s3vectors_buckets(Unreachable(), "prod", "xx-east-9")

    assert finding.status is Status.FAIL
    assert "xx-east-9" in finding.found
    assert "vectorStore=opensearch" in finding.fix


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDeniedException", Status.WARN), ("ExpiredToken", Status.FAIL)]
)
def test_a_denied_or_rejected_call_is_reported_without_its_message(
    code: str, status: Status
) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "list_vector_buckets", code, "User arn:aws:sts::123456789012:assumed-role/x"
        )
        finding = check_s3vectors_buckets(client, "prod", "eu-west-1")

    assert finding.status is status
    assert "assumed-role" not in finding.found + finding.fix
    if status is Status.WARN:
        assert "s3vectors:ListVectorBuckets" in finding.fix
