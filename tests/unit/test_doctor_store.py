"""`chatbot doctor`'s document-store finding: which store, and its idle cost from chatbot.cost."""

from __future__ import annotations

from chatbot.cost.estimate import idle_per_month
from chatbot.cost.prices import shipped_prices
from chatbot.doctor.findings import Status
from chatbot.doctor.inputs import deploy_inputs
from chatbot.doctor.store import check_vector_store


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
