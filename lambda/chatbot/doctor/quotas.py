"""Account quotas a fresh account is short of: Lambda concurrency, OpenSearch Serverless."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.doctor.findings import CAUGHT, Finding, Status, cannot_check

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_opensearchserverless import OpenSearchServiceServerlessClient

# Lambda keeps this much unreserved for the functions without a reservation, or the whole
# limit when that is smaller: a new account's limit of 10 leaves nothing to reserve, and the
# deploy fails with "decreases account's UnreservedConcurrentExecution below its minimum
# value of [10]".
UNRESERVED_FLOOR = 100
# The documented default concurrency limit, and its Service Quotas quota code.
DEFAULT_CONCURRENCY = 1000
CONCURRENCY_QUOTA = "AWS Lambda > Concurrent executions (L-B99A9384)"

# OpenSearch Serverless: Service Quotas would need the aoss quota codes, which its API does
# not let us look up by meaning without listing every quota, and which report only the
# default unless an increase was granted. So doctor counts the collections (aoss
# ListCollections) against the documented default quota, and reads the account's OCU
# maximums (aoss GetAccountSettings), the one capacity setting that can stop a collection
# from scaling.
DEFAULT_COLLECTIONS_QUOTA = 50
DEFAULT_MAX_OCU = 10


def check_lambda_concurrency(
    lambda_client: LambdaClient, region: str, *, reservations: tuple[tuple[str, int], ...] = ()
) -> Finding:
    """``reservations``: the concurrency the stack reserves, by context key
    (cleanupReservedConcurrency, engineReservedConcurrency); none by default, so a new
    account's limit of 10 deploys, if tightly."""
    reserved = sum(count for _, count in reservations)
    check = "lambda concurrency"
    try:
        limits = lambda_client.get_account_settings()["AccountLimit"]
    except CAUGHT as error:
        return cannot_check(
            check, "the Lambda concurrency limit", error, permission="lambda:GetAccountSettings"
        )
    limit = limits.get("ConcurrentExecutions", 0)
    unreserved = limits.get("UnreservedConcurrentExecutions", limit)
    floor = min(UNRESERVED_FLOOR, limit)
    request = f"request {DEFAULT_CONCURRENCY} in Service Quotas ({CONCURRENCY_QUOTA}) for {region}"
    found = f"limit {limit}, {unreserved} unreserved in {region}"
    settings = ", ".join(f"{key}={count}" for key, count in reservations)
    zeroed = " ".join(f"-c {key}=0" for key, _ in reservations)
    if reserved and unreserved - reserved < floor:
        return Finding(
            check,
            Status.FAIL,
            f"{found}: {settings} reserve {reserved}, which Lambda refuses while it would "
            f"leave fewer than {floor} unreserved (a new account's limit is 10)",
            f"{request}, or deploy with {zeroed}",
        )
    if limit < DEFAULT_CONCURRENCY:
        return Finding(
            check,
            Status.WARN,
            f"{found}: the stack deploys, but more chats at once than that are throttled",
            request,
        )
    return Finding(check, Status.OK, found)


def check_opensearch(aoss: OpenSearchServiceServerlessClient, collection: str) -> list[Finding]:
    """``collection``: the stage's collection name before the stack's unique suffix."""
    return [_collections(aoss, collection), _capacity(aoss)]


def _is_stage_collection(name: str, base: str) -> bool:
    # The stack names its collection ``<base>-<8 hex digits of the stack's id>``, so a
    # redeploy after destroy gets a new one beside any retained one.
    return name == base or name.startswith(f"{base}-")


def _collections(aoss: OpenSearchServiceServerlessClient, collection: str) -> Finding:
    check = "opensearch collections"
    names: list[str] = []
    token = ""
    try:
        while True:
            page = aoss.list_collections(nextToken=token) if token else aoss.list_collections()
            names += [summary.get("name", "") for summary in page.get("collectionSummaries", [])]
            token = page.get("nextToken", "")
            if not token:
                break
    except CAUGHT as error:
        return cannot_check(
            check, "OpenSearch Serverless collections", error, permission="aoss:ListCollections"
        )
    found = f"{len(names)} collections of the default quota of {DEFAULT_COLLECTIONS_QUOTA}"
    if any(_is_stage_collection(name, collection) for name in names):
        return Finding(check, Status.OK, f"{found}; {collection} exists already")
    if len(names) >= DEFAULT_COLLECTIONS_QUOTA:
        return Finding(
            check,
            Status.FAIL,
            f"{found}: no room for {collection}",
            "delete an unused collection, or request more in Service Quotas "
            "(Amazon OpenSearch Serverless)",
        )
    return Finding(check, Status.OK, f"{found}; room for {collection}")


def _capacity(aoss: OpenSearchServiceServerlessClient) -> Finding:
    check = "opensearch capacity"
    try:
        settings = aoss.get_account_settings().get("accountSettingsDetail", {})
    except CAUGHT as error:
        return cannot_check(
            check,
            "the OpenSearch Serverless OCU limits",
            error,
            permission="aoss:GetAccountSettings",
        )
    limits = settings.get("capacityLimits", {})
    indexing = limits.get("maxIndexingCapacityInOCU", DEFAULT_MAX_OCU)
    search = limits.get("maxSearchCapacityInOCU", DEFAULT_MAX_OCU)
    # 2 is the least the API accepts, and what one collection with standby replicas starts at.
    if min(indexing, search) <= 2:
        return Finding(
            check,
            Status.WARN,
            f"account maximum {indexing} indexing and {search} search OCUs: collections "
            "cannot scale past it under load",
            "raise it: aws opensearchserverless update-account-settings --capacity-limits ...",
        )
    return Finding(
        check,
        Status.OK,
        f"account maximum {indexing} indexing and {search} search OCUs "
        "(billing starts with the first collection)",
    )
