"""The stack's HMAC keys: random secrets in Secrets Manager, generated at deploy.

Two keys, each read only by the functions that need it: the session-token key (the
websocket handler issues and checks tokens) and the tools' owner-claim key (the engine signs
the owner of each tools call, the MCP server verifies it). Separate keys, so the MCP server
can never mint a session token.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


class SigningKey(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retain: bool,
        description: str,
        why_not_rotated: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        Validations.of(self.secret).acknowledge(
            cdk.Acknowledgment(id="AwsSolutions-SMG4", reason=why_not_rotated)
        )

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self.secret.grant_read(grantee)


class SessionKey(SigningKey):
    def __init__(self, scope: Construct, construct_id: str, *, retain: bool) -> None:
        super().__init__(
            scope,
            construct_id,
            retain=retain,
            description="Key of the HMAC session tokens the chatbot issues",
            why_not_rotated=(
                "Session tokens are HMACs under this key; rotating it signs every open "
                "session out. Sessions last minutes to hours, so the key is replaced by "
                "redeploying with a new construct id rather than rotated on a schedule."
            ),
        )


class ToolsKey(SigningKey):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(
            scope,
            construct_id,
            # Claims live one answer's time: nothing signed with it outlives the stack.
            retain=False,
            description="Key of the owner claims the engine signs for MCP tool calls",
            why_not_rotated=(
                "Owner claims are HMACs under this key that expire within one answer's time "
                "(minutes); the key is replaced by redeploying with a new construct id, and a "
                "scheduled rotation would only fail the tools calls in flight."
            ),
        )
