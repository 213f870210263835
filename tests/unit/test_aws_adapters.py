"""The @connections sender and the Lambda engine invoker send exactly the right AWS requests."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from chatbot.adapters.aws.connections import ApiGatewayConnectionSender
from chatbot.adapters.aws.engine_invoker import LambdaEngineInvoker
from chatbot.ports import ConnectionGoneError, EngineRequest, FrameTooLargeError

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"


pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def test_post_sends_the_frame_to_the_connection() -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    with Stubber(client) as stub:
        stub.add_response(
            "post_to_connection", {}, {"ConnectionId": "c1", "Data": b'{"type":"pong"}'}
        )
        ApiGatewayConnectionSender(ENDPOINT, client).post("c1", '{"type":"pong"}')
        stub.assert_no_pending_responses()


def test_post_to_a_gone_connection_raises_connection_gone() -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
        with pytest.raises(ConnectionGoneError):
            ApiGatewayConnectionSender(ENDPOINT, client).post("c1", "{}")


@pytest.mark.parametrize(
    ("code", "status"),
    [("PayloadTooLargeException", 413), ("SomethingNewer", 413)],
)
def test_post_of_a_frame_over_the_limit_raises_frame_too_large_with_its_size(
    code: str, status: int
) -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    data = '{"type":"history","messages":["\u00e9"]}'
    with Stubber(client) as stub:
        stub.add_client_error(
            "post_to_connection",
            code,
            service_message="Message too long",
            http_status_code=status,
            expected_params={"ConnectionId": "c1", "Data": data.encode()},
        )
        with pytest.raises(FrameTooLargeError) as raised:
            ApiGatewayConnectionSender(ENDPOINT, client).post("c1", data)
        stub.assert_no_pending_responses()
    assert raised.value.size == len(data.encode())
    assert data not in str(raised.value)


def test_post_fails_loudly_on_other_errors() -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", "ForbiddenException", http_status_code=403)
        with pytest.raises(client.exceptions.ForbiddenException):
            ApiGatewayConnectionSender(ENDPOINT, client).post("c1", "{}")


def test_delete_of_a_gone_connection_is_not_an_error() -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    with Stubber(client) as stub:
        stub.add_client_error("delete_connection", "GoneException", http_status_code=410)
        ApiGatewayConnectionSender(ENDPOINT, client).delete("c1")
        stub.assert_no_pending_responses()


def test_delete_fails_loudly_on_other_errors() -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    with Stubber(client) as stub:
        stub.add_client_error("delete_connection", "LimitExceededException", http_status_code=429)
        with pytest.raises(client.exceptions.LimitExceededException):
            ApiGatewayConnectionSender(ENDPOINT, client).delete("c1")


def test_the_engine_is_invoked_asynchronously_with_ids_only() -> None:
    client = boto3.client("lambda")
    request = EngineRequest(sessionId="s", messageId="m", connectionId="c")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": "engine-fn",
                "InvocationType": "Event",
                "Payload": request.model_dump_json().encode(),
            },
        )
        LambdaEngineInvoker("engine-fn", client).invoke(request)
        stub.assert_no_pending_responses()
    assert json.loads(request.model_dump_json()) == {
        "sessionId": "s",
        "messageId": "m",
        "connectionId": "c",
    }
