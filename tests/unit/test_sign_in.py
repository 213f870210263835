"""The $connect authorizer: only a genuine, current ID token of our pool and client connects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chatbot.config import Settings
from chatbot.handlers.authorizer import handle_event
from chatbot.sign_in import SignInRefused, TokenVerifier, UserPoolConfig

CONFIG = UserPoolConfig(
    region="eu-west-1", user_pool_id="eu-west-1_Pool123", client_id="web-client"
)
KID = "key-1"
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/$connect"
SUB = "8f1c2d3e-0000-4000-8000-123456789abc"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LocalJwks(jwt.PyJWKClient):
    """The real PyJWKClient (kid lookup, cache) with the key set served from memory."""

    def __init__(self, keys: dict[str, Any]) -> None:
        super().__init__(CONFIG.jwks_url, cache_jwk_set=True, lifespan=3600)
        self.keys = keys
        self.fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        return self.keys


class UnreachableJwks(jwt.PyJWKClient):
    def __init__(self) -> None:
        super().__init__(CONFIG.jwks_url)

    def fetch_data(self) -> Any:
        raise jwt.PyJWKClientConnectionError("Fail to fetch data from the url, err: timed out")


@pytest.fixture
def jwks(signing_key: rsa.RSAPrivateKey) -> LocalJwks:
    public = RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    return LocalJwks({"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]})


@pytest.fixture
def verifier(jwks: LocalJwks) -> TokenVerifier:
    return TokenVerifier(CONFIG, keys=jwks)


def id_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": SUB,
        "aud": CONFIG.client_id,
        "iss": CONFIG.issuer,
        "token_use": "id",
        "email": "ada@example.com",
        "email_verified": True,
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str = KID) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def connect_event(token: str | None) -> dict[str, Any]:
    """The REQUEST authorizer event API Gateway sends for a WebSocket $connect."""
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": {"Host": "abc123.execute-api.eu-west-1.amazonaws.com"},
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "stage": "dev"},
    }
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    return event


def effect(response: dict[str, Any]) -> str:
    [statement] = response["policyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == METHOD_ARN
    return str(statement["Effect"])


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- allowed -------------------------------------------------------------------------------


def test_a_valid_id_token_opens_the_connection_with_the_users_sub(
    verifier: TokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    response = handle_event(connect_event(sign(signing_key, id_claims())), verifier)
    assert effect(response) == "Allow"
    assert response["principalId"] == SUB
    assert response["context"] == {"sub": SUB}


def test_verifier_returns_the_user_named_by_the_token(
    verifier: TokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    user = verifier.verify(sign(signing_key, id_claims()))
    assert (user.sub, user.email) == (SUB, "ada@example.com")


def test_the_key_set_is_fetched_once_per_container(
    verifier: TokenVerifier, jwks: LocalJwks, signing_key: rsa.RSAPrivateKey
) -> None:
    for _ in range(5):
        verifier.verify(sign(signing_key, id_claims()))
    assert jwks.fetches == 1


# --- refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 10}, "ExpiredSignatureError"),
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"}, "Issuer"),
        ({"aud": "another-client"}, "Audience"),
        ({"token_use": "access"}, "not an ID token"),
        ({"token_use": None}, "MissingRequiredClaimError"),
        ({"exp": None}, "MissingRequiredClaimError"),
        ({"aud": None, "client_id": CONFIG.client_id, "token_use": "access"}, "Missing"),
    ],
    ids=["expired", "issuer", "audience", "access-token", "no-token-use", "no-expiry", "no-aud"],
)
def test_a_signed_token_with_the_wrong_claims_is_denied(
    verifier: TokenVerifier,
    signing_key: rsa.RSAPrivateKey,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    token = sign(signing_key, id_claims(**overrides))
    with pytest.raises(SignInRefused, match=reason):
        verifier.verify(token)
    assert effect(handle_event(connect_event(token), verifier)) == "Deny"


def test_a_token_signed_by_another_key_is_denied(
    verifier: TokenVerifier, other_key: rsa.RSAPrivateKey
) -> None:
    token = sign(other_key, id_claims())
    with pytest.raises(SignInRefused, match="InvalidSignatureError"):
        verifier.verify(token)
    assert effect(handle_event(connect_event(token), verifier)) == "Deny"


def test_a_token_whose_claims_were_edited_after_signing_is_denied(
    verifier: TokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    header, _, signature = sign(signing_key, id_claims()).split(".")
    forged = f"{header}.{b64(id_claims(sub='someone-else'))}.{signature}"
    with pytest.raises(SignInRefused, match="InvalidSignatureError"):
        verifier.verify(forged)


def test_a_token_naming_an_unknown_key_is_denied(
    verifier: TokenVerifier, other_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(SignInRefused):
        verifier.verify(sign(other_key, id_claims(), kid="not-ours"))


def test_an_hs256_token_keyed_with_the_public_key_is_denied_without_fetching_keys(
    verifier: TokenVerifier, jwks: LocalJwks, signing_key: rsa.RSAPrivateKey
) -> None:
    # The classic confusion attack: the public key (which anyone can fetch) as HMAC secret.
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64({"alg": "HS256", "typ": "JWT", "kid": KID})
    payload = b64(id_claims())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(SignInRefused, match="HS256"):
        verifier.verify(token)
    assert jwks.fetches == 0


def test_an_unsigned_token_is_denied(verifier: TokenVerifier) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{b64(id_claims())}."
    with pytest.raises(SignInRefused, match="none"):
        verifier.verify(token)
    assert effect(handle_event(connect_event(token), verifier)) == "Deny"


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c"])
def test_a_missing_or_malformed_token_is_denied(verifier: TokenVerifier, token: str | None) -> None:
    response = handle_event(connect_event(token), verifier)
    assert effect(response) == "Deny"
    assert "context" not in response


def test_the_token_is_never_logged(
    verifier: TokenVerifier, other_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    token = sign(other_key, id_claims())
    with caplog.at_level(logging.INFO, logger="chatbot"):
        handle_event(connect_event(token), verifier)
    [record] = [r for r in caplog.records if r.getMessage() == "sign-in refused"]
    assert record.__dict__["reason"] == "InvalidSignatureError"
    logged = " ".join(str(vars(r)) for r in caplog.records)
    for part in token.split("."):
        assert part not in logged


def test_keys_that_cannot_be_fetched_are_an_error_not_a_refusal(
    signing_key: rsa.RSAPrivateKey,
) -> None:
    # A 500 at the handshake and a function error on the alarms: the fault is not the user's.
    verifier = TokenVerifier(CONFIG, keys=UnreachableJwks())
    with pytest.raises(jwt.PyJWKClientConnectionError):
        handle_event(connect_event(sign(signing_key, id_claims())), verifier)


# --- configuration -------------------------------------------------------------------------


def test_issuer_and_key_set_url_follow_the_region_and_pool() -> None:
    config = UserPoolConfig.from_settings(
        Settings(
            AWS_REGION="eu-west-1",
            SIGN_IN_USER_POOL_ID="eu-west-1_Pool123",
            SIGN_IN_CLIENT_ID="web-client",
        )
    )
    assert config == CONFIG
    assert config.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool123"
    assert config.jwks_url == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool123/.well-known/jwks.json"
    )


def test_sign_in_settings_are_required_where_the_authorizer_runs() -> None:
    with pytest.raises(ValueError, match="SIGN_IN_USER_POOL_ID"):
        UserPoolConfig.from_settings(Settings(SIGN_IN_CLIENT_ID="web-client"))
