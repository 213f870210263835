"""The engine invoker over Lambda: an asynchronous invoke, so the handler returns at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3

from chatbot.ports import EngineRequest

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class LambdaEngineInvoker:
    def __init__(self, function_name: str, client: LambdaClient | None = None) -> None:
        self._function_name = function_name
        self._client = client or boto3.client("lambda")

    def invoke(self, request: EngineRequest) -> None:
        # InvocationType=Event escapes API Gateway's 29 s integration limit; Lambda retries
        # a failed run, which the engine tolerates (it answers each message once).
        self._client.invoke(
            FunctionName=self._function_name,
            InvocationType="Event",
            Payload=request.model_dump_json().encode(),
        )
