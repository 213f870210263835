"""Titan v2 embeddings send the right InvokeModel requests, retry what is transient, keep order."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chatbot.adapters.aws.embeddings import (
    MAX_INPUT_CHARACTERS,
    BedrockRuntime,
    EmbeddingUnavailableError,
    TitanEmbeddings,
    truncate_for_titan,
)
from chatbot.errors import ErrorCode

MODEL = "amazon.titan-embed-text-v2:0"


pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


@pytest.fixture
def client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1")


def response(vector: list[float], tokens: int = 3) -> dict[str, Any]:
    data = json.dumps({"embedding": vector, "inputTextTokenCount": tokens}).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


def request(text: str, dimensions: int = 256) -> dict[str, Any]:
    body = {"inputText": text, "dimensions": dimensions, "normalize": True}
    return {
        "modelId": MODEL,
        "body": json.dumps(body).encode(),
        "contentType": "application/json",
        "accept": "application/json",
    }


def unit(dimensions: int, index: int = 0) -> list[float]:
    return [1.0 if i == index else 0.0 for i in range(dimensions)]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def titan(client: BedrockRuntime, sleeps: Sleeps | None = None, **options: Any) -> TitanEmbeddings:
    # The jitter is the ceiling itself, so the backoff schedule is visible to the test.
    return TitanEmbeddings(
        client,
        dimensions=options.pop("dimensions", 256),
        sleep=sleeps or Sleeps(),
        jitter=lambda low, high: high,
        **options,
    )


def test_a_query_is_one_invoke_model_asking_for_normalised_vectors(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("invoke_model", response(unit(256)), request("hello world"))
        vector = titan(client).embed_query("hello world")
        stub.assert_no_pending_responses()
    assert vector == unit(256)


def test_documents_are_one_request_each_in_order(client: Any) -> None:
    with Stubber(client) as stub:
        for index, text in enumerate(["first", "second", "third"]):
            stub.add_response("invoke_model", response(unit(512, index)), request(text, 512))
        vectors = titan(client, dimensions=512, concurrency=1).embed_documents(
            ["first", "second", "third"]
        )
        stub.assert_no_pending_responses()
    assert vectors == [unit(512, 0), unit(512, 1), unit(512, 2)]


def test_dimensions_default_to_1024_and_name_the_model(client: Any) -> None:
    embeddings = TitanEmbeddings(client)
    assert embeddings.dimensions == 1024
    assert embeddings.model_id == "amazon.titan-embed-text-v2:0:1024"


@pytest.mark.parametrize("dimensions", [0, 384, 768, 1536])
def test_dimensions_titan_does_not_offer_are_refused(client: Any, dimensions: int) -> None:
    with pytest.raises(ValueError, match="256, 512, 1024"):
        TitanEmbeddings(client, dimensions=dimensions)


def test_a_throttled_request_is_retried_with_growing_backoff_then_succeeds(client: Any) -> None:
    sleeps = Sleeps()
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", "ThrottlingException", http_status_code=429)
        stub.add_client_error("invoke_model", "ServiceUnavailableException", http_status_code=503)
        stub.add_client_error("invoke_model", "ModelTimeoutException", http_status_code=408)
        stub.add_response("invoke_model", response(unit(256)), request("hi"))
        vector = titan(client, sleeps, base_delay=0.5).embed_query("hi")
        stub.assert_no_pending_responses()
    assert vector == unit(256)
    assert sleeps.delays == [0.5, 1.0, 2.0]


def test_backoff_is_capped(client: Any) -> None:
    sleeps = Sleeps()
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_client_error("invoke_model", "ThrottlingException", http_status_code=429)
        stub.add_response("invoke_model", response(unit(256)), request("hi"))
        titan(client, sleeps, base_delay=1.0, max_delay=3.0).embed_query("hi")
    assert sleeps.delays == [1.0, 2.0, 3.0, 3.0]


def test_retries_that_run_out_raise_model_unavailable_naming_the_last_error(client: Any) -> None:
    sleeps = Sleeps()
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("invoke_model", "ThrottlingException", http_status_code=429)
        with pytest.raises(
            EmbeddingUnavailableError, match=r"failed 3 times.*Throttling"
        ) as raised:
            titan(client, sleeps, max_attempts=3).embed_query("hi")
        stub.assert_no_pending_responses()
    assert raised.value.code is ErrorCode.MODEL_UNAVAILABLE
    assert len(sleeps.delays) == 2


def test_errors_that_will_not_get_better_are_not_retried(client: Any) -> None:
    sleeps = Sleeps()
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", "AccessDeniedException", http_status_code=403)
        with pytest.raises(ClientError, match="AccessDenied"):
            titan(client, sleeps).embed_query("hi")
    assert sleeps.delays == []


def test_long_inputs_are_cut_to_titans_character_limit(client: Any) -> None:
    text = "word " * 12_000  # 60,000 characters
    sent = truncate_for_titan(text)
    with Stubber(client) as stub:
        stub.add_response("invoke_model", response(unit(256)), request(sent))
        titan(client).embed_query(text)
        stub.assert_no_pending_responses()
    assert len(sent) <= MAX_INPUT_CHARACTERS
    assert text.startswith(sent)
    assert not sent.endswith("wor")


def test_an_input_over_the_token_limit_is_shortened_by_the_reported_count(client: Any) -> None:
    text = "x" * 40_000
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke_model",
            "ValidationException",
            "Too many input tokens. Max input tokens: 8192, request input token count: 16384",
            http_status_code=400,
        )
        # 90 % of the share Titan accepts: 40,000 * 0.9 * 8192 / 16384.
        stub.add_response("invoke_model", response(unit(256)), request("x" * 18_000))
        titan(client).embed_query(text)
        stub.assert_no_pending_responses()


def test_other_validation_errors_are_raised_as_they_are(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", "ValidationException", "Malformed input request")
        with pytest.raises(ClientError, match="Malformed"):
            titan(client).embed_query("hi")


def test_an_empty_text_is_refused_before_any_request(client: Any) -> None:
    # No response is stubbed: any request would fail the test with UnStubbedResponseError.
    with Stubber(client), pytest.raises(ValueError, match=r"empty text \(text 1\)"):
        titan(client).embed_documents(["fine", "  "])


class SlowFirstClient:
    """A fake bedrock-runtime whose early requests finish last, counting calls in flight."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def invoke_model(
        self, *, modelId: str, body: bytes, contentType: str, accept: str
    ) -> Mapping[str, Any]:
        index = int(json.loads(body)["inputText"].removeprefix("text "))
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.002 * (20 - index % 20))
        with self.lock:
            self.in_flight -= 1
        return response(unit(self.dimensions, index % self.dimensions))


def test_order_is_kept_when_requests_finish_out_of_order() -> None:
    fake = SlowFirstClient(256)
    texts = [f"text {i}" for i in range(40)]
    vectors = titan(fake, concurrency=4).embed_documents(texts)
    assert vectors == [unit(256, i) for i in range(40)]
    assert 1 < fake.most_in_flight <= 4


def test_concurrency_defaults_to_eight() -> None:
    fake = SlowFirstClient(256)
    titan(fake).embed_documents([f"text {i}" for i in range(40)])
    assert fake.most_in_flight == 8


def test_a_vector_of_the_wrong_width_is_refused(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("invoke_model", response(unit(1024)), request("hi"))
        with pytest.raises(ValueError, match="1024 dimensions where 256"):
            titan(client).embed_query("hi")
