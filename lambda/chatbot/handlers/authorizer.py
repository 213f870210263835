"""Lambda entry point of the `$connect` authorizer (user sign-in): `token=<ID token>` or 403."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from chatbot.config import load_settings
from chatbot.redaction import RedactingFormatter
from chatbot.sign_in import SignInRefused, TokenVerifier, UserPoolConfig, allow, deny

logger = Logger(service="chatbot", logger_formatter=RedactingFormatter())


def handle_event(event: dict[str, Any], verifier: TokenVerifier) -> dict[str, Any]:
    """Allow the handshake for a valid ID token, deny it otherwise; the token is never logged."""
    request = APIGatewayAuthorizerRequestEvent(event)
    query = request.get("queryStringParameters") or {}
    token = query.get("token")
    try:
        user = verifier.verify(token if isinstance(token, str) else None)
    except SignInRefused as refusal:
        # A Deny (HTTP 403) rather than an exception: a bad token is the caller's fault and
        # must not count as a function error on the alarms.
        logger.info("sign-in refused", extra={"reason": refusal.reason})
        return deny(request.method_arn)
    logger.info("signed in", extra={"sub": user.sub})
    return allow(user, request.method_arn)


@lru_cache(maxsize=1)
def _verifier() -> TokenVerifier:
    # One per container: PyJWKClient keeps the user pool's keys between invocations.
    return TokenVerifier(UserPoolConfig.from_settings(load_settings()))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_event(event, _verifier())
