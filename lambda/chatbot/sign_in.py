"""User sign-in at `$connect`: verifies a Cognito ID token and answers API Gateway with a policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from chatbot.config import Settings

# Cognito signs its tokens with RS256 only; accepting anything else would let a token choose
# how it is checked (HS256 with the public key as secret, or "none").
ALGORITHMS = ("RS256",)
# Every claim the checks below rely on must be present, or the token is refused.
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "token_use")
# Cognito rotates its keys rarely; an hour of cache spares a fetch on nearly every cold start
# and an unknown key id still triggers a refetch (after PyJWT's cooldown).
JWKS_CACHE_SECONDS = 3600
# Well inside the authorizer's timeout, so a slow Cognito fails as an error, not a timeout.
JWKS_TIMEOUT_SECONDS = 5.0


class SignInRefused(Exception):
    """The token proves nothing: missing, malformed, forged, expired or meant for another use.

    ``reason`` is safe to log: it never contains the token.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SigningKeys(Protocol):
    """What the verifier needs of ``jwt.PyJWKClient``: the public key a token names."""

    def get_signing_key_from_jwt(self, token: str | bytes) -> jwt.PyJWK: ...


@dataclass(frozen=True)
class UserPoolConfig:
    region: str
    user_pool_id: str
    client_id: str

    @classmethod
    def from_settings(cls, settings: Settings) -> UserPoolConfig:
        if not settings.sign_in_user_pool_id or not settings.sign_in_client_id:
            raise ValueError("SIGN_IN_USER_POOL_ID and SIGN_IN_CLIENT_ID must be set")
        return cls(settings.aws_region, settings.sign_in_user_pool_id, settings.sign_in_client_id)

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"


@dataclass(frozen=True)
class SignedInUser:
    sub: str
    email: str | None = None


class TokenVerifier:
    """Checks an ID token of one user pool and one app client; keys cached per container."""

    def __init__(self, config: UserPoolConfig, keys: SigningKeys | None = None) -> None:
        self._config = config
        self._keys: SigningKeys = keys or jwt.PyJWKClient(
            config.jwks_url,
            cache_jwk_set=True,
            lifespan=JWKS_CACHE_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
        )

    def verify(self, token: str | None) -> SignedInUser:
        """The user the token names, or SignInRefused.

        ``jwt.PyJWKClientConnectionError`` (the key set could not be fetched) is not a
        refusal and propagates: the fault is ours, not the user's.
        """
        if not token:
            raise SignInRefused("no token")
        try:
            # Checked before any key lookup, so a forged header costs no JWKS fetch.
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm not in ALGORITHMS:
                raise SignInRefused(f"algorithm {algorithm!r} is not accepted")
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self._config.client_id,
                issuer=self._config.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWKClientConnectionError:
            raise
        except jwt.PyJWTError as error:
            # The class names the failed check (ExpiredSignatureError, InvalidAudienceError...)
            # without echoing any part of the token.
            raise SignInRefused(type(error).__name__) from None
        # An access token has no audience, but a future one with `aud` must still not pass.
        if claims.get("token_use") != "id":
            raise SignInRefused("not an ID token")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise SignInRefused("no subject")
        email = claims.get("email")
        return SignedInUser(sub=sub, email=email if isinstance(email, str) else None)


def allow(user: SignedInUser, method_arn: str) -> dict[str, Any]:
    """API Gateway's answer letting this user open this connection, and nothing else."""
    return _policy(user.sub, "Allow", method_arn, context={"sub": user.sub})


def deny(method_arn: str) -> dict[str, Any]:
    """API Gateway's answer refusing the handshake (HTTP 403)."""
    return _policy("anonymous", "Deny", method_arn, context=None)


def _policy(
    principal: str, effect: str, method_arn: str, *, context: dict[str, str] | None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}
            ],
        },
    }
    if context is not None:
        # Reaches the $connect integration as requestContext.authorizer.
        response["context"] = context
    return response
