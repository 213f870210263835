"""The session-token key: a random secret in Secrets Manager, generated at deploy."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


class SessionKey(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, retain: bool) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Key of the HMAC session tokens the chatbot issues",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        Validations.of(self.secret).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-SMG4",
                reason=(
                    "Session tokens are HMACs under this key; rotating it signs every open "
                    "session out. Sessions last minutes to hours, so the key is replaced by "
                    "redeploying with a new construct id rather than rotated on a schedule."
                ),
            )
        )

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self.secret.grant_read(grantee)
