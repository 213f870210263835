"""chatbot doctor's quota checks: Lambda concurrency, OpenSearch Serverless collections and OCUs."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chatbot.doctor.findings import Finding, Status
from chatbot.doctor.inputs import deploy_inputs
from chatbot.doctor.quotas import check_lambda_concurrency, check_opensearch

COLLECTION = "chatbot-dev-docs"


def concurrency(
    limit: int | None, unreserved: int | None = None, *, reserved: int = 0, **error: Any
) -> Finding:
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        if limit is None:
            stub.add_client_error("get_account_settings", **error)
        else:
            stub.add_response(
                "get_account_settings",
                {
                    "AccountLimit": {
                        "ConcurrentExecutions": limit,
                        "UnreservedConcurrentExecutions": limit
                        if unreserved is None
                        else unreserved,
                    }
                },
            )
        reservations = (("cleanupReservedConcurrency", reserved),) if reserved else ()
        return check_lambda_concurrency(client, "us-east-1", reservations=reservations)


def test_the_default_concurrency_limit_is_ok() -> None:
    finding = concurrency(1000, 990)

    assert finding.status is Status.OK
    assert finding.found == "limit 1000, 990 unreserved in us-east-1"


def test_a_new_accounts_limit_of_ten_deploys_the_default_stack_with_a_warning() -> None:
    finding = concurrency(10)

    assert finding.status is Status.WARN
    assert finding.found == (
        "limit 10, 10 unreserved in us-east-1: the stack deploys, but more chats at once than "
        "that are throttled"
    )


def test_a_reservation_on_a_new_accounts_limit_of_ten_fails() -> None:
    finding = concurrency(10, reserved=1)

    assert finding.status is Status.FAIL
    assert "limit 10, 10 unreserved in us-east-1" in finding.found
    assert "fewer than 10 unreserved" in finding.found
    assert finding.fix == (
        "request 1000 in Service Quotas (AWS Lambda > Concurrent executions (L-B99A9384)) "
        "for us-east-1, or deploy with -c cleanupReservedConcurrency=0"
    )


def test_a_limit_that_leaves_room_to_reserve_but_is_below_the_default_warns() -> None:
    finding = concurrency(400)

    assert finding.status is Status.WARN
    assert "more chats at once than that are throttled" in finding.found
    assert "request 1000 in Service Quotas" in finding.fix


def test_a_reservation_where_other_stacks_leave_no_room_fails() -> None:
    assert concurrency(1000, 100, reserved=1).status is Status.FAIL
    assert concurrency(1000, 100).status is Status.OK


def test_an_operator_who_may_not_read_lambda_settings_is_told_the_permission() -> None:
    finding = concurrency(None, service_error_code="AccessDeniedException", http_status_code=403)

    assert finding.status is Status.WARN
    assert finding.found == "cannot check the Lambda concurrency limit: access denied"
    assert "lambda:GetAccountSettings" in finding.fix


def summaries(*names: str) -> dict[str, Any]:
    return {"collectionSummaries": [{"name": name, "status": "ACTIVE"} for name in names]}


def capacity(indexing: int, search: int) -> dict[str, Any]:
    return {
        "accountSettingsDetail": {
            "capacityLimits": {
                "maxIndexingCapacityInOCU": indexing,
                "maxSearchCapacityInOCU": search,
            }
        }
    }


def opensearch(
    pages: list[dict[str, Any]] | dict[str, Any], settings: dict[str, Any] | None = None
) -> list[Finding]:
    client = boto3.client("opensearchserverless", region_name="us-east-1")
    with Stubber(client) as stub:
        if isinstance(pages, dict):
            stub.add_client_error("list_collections", **pages)
        else:
            for page in pages:
                stub.add_response("list_collections", page)
        if settings is None:
            stub.add_client_error(
                "get_account_settings", service_error_code="AccessDeniedException"
            )
        else:
            stub.add_response("get_account_settings", settings)
        findings = check_opensearch(client, COLLECTION)
        stub.assert_no_pending_responses()
    return findings


def test_an_account_with_room_for_the_collection_is_ok_across_pages() -> None:
    first = {**summaries(*(f"other-{i}" for i in range(20))), "nextToken": "page-2"}

    collections, ocus = opensearch([first, summaries("another")], capacity(10, 10))

    assert collections.status is Status.OK
    assert collections.found == (
        f"21 collections of the default quota of 50; room for {COLLECTION}"
    )
    assert ocus.status is Status.OK
    assert ocus.found.startswith("account maximum 10 indexing and 10 search OCUs")


def test_an_account_at_the_collection_quota_fails() -> None:
    collections, _ = opensearch([summaries(*(f"other-{i}" for i in range(50)))], capacity(10, 10))

    assert collections.status is Status.FAIL
    assert (
        collections.found == f"50 collections of the default quota of 50: no room for {COLLECTION}"
    )
    assert "Service Quotas" in collections.fix


def test_a_stage_whose_collection_exists_needs_no_room() -> None:
    names = [f"other-{i}" for i in range(49)] + [f"{COLLECTION}-0a1b2c3d"]

    collections, _ = opensearch([summaries(*names)], capacity(10, 10))

    assert collections.status is Status.OK
    assert f"{COLLECTION} exists already" in collections.found


def test_an_ocu_maximum_at_the_minimum_warns_that_collections_cannot_scale() -> None:
    _, ocus = opensearch([summaries()], capacity(2, 4))

    assert ocus.status is Status.WARN
    assert "cannot scale past it" in ocus.found


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDeniedException", 403), ("UnauthorizedException", 401)]
)
def test_an_operator_who_may_not_list_collections_is_told_the_permission(
    code: str, status: int
) -> None:
    collections, ocus = opensearch({"service_error_code": code, "http_status_code": status})

    assert collections.status is Status.WARN
    assert "aoss:ListCollections" in collections.fix
    assert ocus.status is Status.WARN
    assert "aoss:GetAccountSettings" in ocus.fix


def test_the_engines_and_the_cleanups_reservations_count_together() -> None:
    inputs = deploy_inputs({"engineReservedConcurrency": 5}, {"cleanupReservedConcurrency": "1"})
    assert inputs.reservations == (
        ("cleanupReservedConcurrency", 1),
        ("engineReservedConcurrency", 5),
    )
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "get_account_settings",
            {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 104}},
        )
        finding = check_lambda_concurrency(client, "us-east-1", reservations=inputs.reservations)

    assert finding.status is Status.FAIL
    assert "cleanupReservedConcurrency=1, engineReservedConcurrency=5 reserve 6" in finding.found
    assert finding.fix.endswith("-c cleanupReservedConcurrency=0 -c engineReservedConcurrency=0")
