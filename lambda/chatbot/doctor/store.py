"""Which document store the stack deploys (the ``vectorStore`` context key) and what it costs
idle, priced by ``chatbot.cost`` so the figure is the one ``chatbot cost`` prints; and, for
S3 Vectors, whether the region answers and which of the stage's vector buckets exist."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import EndpointConnectionError

from chatbot.cost.estimate import VECTOR_STORE_LINES, idle_per_month
from chatbot.cost.prices import PriceSheet, shipped_prices
from chatbot.doctor.findings import CAUGHT, Finding, Status, cannot_check

CHECK = "document store"
CONTEXT_KEY = "vectorStore"


def check_vector_store(vector_store: str, prices: PriceSheet | None = None) -> Finding:
    prices = prices or shipped_prices()
    # The stores the cost model prices are the ones the stack offers (stacks/settings.py).
    known = [name for name in sorted(VECTOR_STORE_LINES) if name in prices.vector_stores]
    if vector_store not in known:
        return Finding(
            CHECK,
            Status.FAIL,
            f"{CONTEXT_KEY} is not a document store the stack offers",
            f"-c {CONTEXT_KEY}=<one of {', '.join(known)}> (or set it in cdk.json's context)",
        )
    name = prices.vector_stores[vector_store].name
    others = "; ".join(
        f"-c {CONTEXT_KEY}={other} idles at {_usd(idle_per_month(prices, other))}"
        for other in known
        if other != vector_store
    )
    found = (
        f"{name} ({CONTEXT_KEY}={vector_store}), idles at about "
        f"{_usd(idle_per_month(prices, vector_store))} a month"
    )
    return Finding(CHECK, Status.OK, f"{found}; {others}" if others else found)


def _usd(value: float) -> str:
    return f"${value:,.2f}"


class VectorBucketLister(Protocol):
    """The one s3vectors call doctor makes (boto3's client satisfies it)."""

    def list_vector_buckets(self, **request: Any) -> Mapping[str, Any]: ...


def stage_bucket_prefix(stage: str) -> str:
    """As the stack names the bucket, settings.name("vectors"), before its per-stack suffix."""
    return f"chatbot-{stage}-vectors"


def check_s3vectors_buckets(client: VectorBucketLister, stage: str, region: str) -> Finding:
    """S3 Vectors answers in ``region``, and the stage's vector buckets that exist: the one a
    deployed stack uses, and any that ``retainData`` kept through a ``cdk destroy`` (each new
    creation of the stack makes its own, beside them, and they are billed for their storage)."""
    check = "s3vectors buckets"
    prefix = stage_bucket_prefix(stage)
    names: list[str] = []
    token = ""
    try:
        while True:
            request: dict[str, Any] = {"prefix": prefix}
            if token:
                request["nextToken"] = token
            page = client.list_vector_buckets(**request)
            names += [str(bucket.get("vectorBucketName", "")) for bucket in page["vectorBuckets"]]
            token = str(page.get("nextToken") or "")
            if not token:
                break
    except EndpointConnectionError:
        return Finding(
            check,
            Status.FAIL,
            f"the S3 Vectors endpoint of {region} did not answer: the region may not offer it",
            f"deploy to a region that offers Amazon S3 Vectors, or -c {CONTEXT_KEY}=opensearch",
        )
    except CAUGHT as error:
        return cannot_check(
            check, "the S3 Vectors buckets", error, permission="s3vectors:ListVectorBuckets"
        )
    ours = sorted(name for name in names if _STAGE_BUCKET.fullmatch(name.removeprefix(prefix)))
    if not ours:
        return Finding(check, Status.OK, f"S3 Vectors answers in {region}; no {prefix}-* yet")
    found = f"S3 Vectors answers in {region}; {len(ours)} of this stage: {', '.join(ours)}"
    if len(ours) == 1:
        return Finding(check, Status.OK, f"{found} (a deployed stack's, or one a destroy kept)")
    return Finding(
        check,
        Status.WARN,
        f"{found}: at most one is a deployed stack's, the others were kept by retainData "
        "through a destroy and are billed for their storage",
        "delete the ones no stack uses: aws s3vectors delete-index, then delete-vector-bucket",
    )


# The stack's suffix: "-" and 8 hex digits of its id.
_STAGE_BUCKET = re.compile(r"-[0-9a-f]{8}")
