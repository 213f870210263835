"""The connection sender over API Gateway's @connections API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from chatbot.ports import ConnectionGoneError, FrameTooLargeError

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient


class ApiGatewayConnectionSender:
    def __init__(
        self, endpoint_url: str, client: ApiGatewayManagementApiClient | None = None
    ) -> None:
        self._client = client or boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url)

    def post(self, connection_id: str, data: str) -> None:
        payload = data.encode()
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=payload)
        except self._client.exceptions.GoneException:
            raise ConnectionGoneError(connection_id) from None
        except ClientError as error:
            # PayloadTooLargeException (HTTP 413): the service model's name for a frame over
            # API Gateway's 128 KB. Its message may quote nothing useful; sizes say enough.
            code = error.response.get("Error", {}).get("Code")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "PayloadTooLargeException" or status == 413:
                raise FrameTooLargeError(len(payload)) from None
            raise

    def delete(self, connection_id: str) -> None:
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except self._client.exceptions.GoneException:
            return
        except ClientError as error:
            # A connection closed while we asked is reported as 410 or, at times, 403.
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") not in (403, 410):
                raise
