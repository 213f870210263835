"""User sign-in: a Cognito user pool, its hosted UI, and the `$connect` authorizer checking it."""

from __future__ import annotations

from typing import cast

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from constructs import Construct, IValidation

from stacks.bundling import SIGN_IN
from stacks.constructs.function import ChatbotFunction
from stacks.constructs.web_hosting import WebSignIn
from stacks.nag import acknowledge

# Where the page puts the ID token: browsers cannot set headers on a WebSocket handshake.
IDENTITY_SOURCE = "route.request.querystring.token"
# Cognito refuses hosted UI prefixes that contain these words.
_RESERVED_WORDS = ("aws", "amazon", "cognito")


class UserSignIn(Construct):
    """Email sign-in (self sign-up, verified email, optional TOTP), the web page's app client
    (authorization code with PKCE, no secret), a hosted UI domain, and the authorizer.

    The app client's callback and logout URL is the page itself, which exists only once the
    page's hosting does, while the hosting needs this client's id: call
    ``allow_redirects_to(web_url)`` once the page's URL is known (synth fails otherwise).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        retain: bool,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        if any(word in stage for word in _RESERVED_WORDS):
            raise ValueError(f"stage {stage!r} may not contain {', '.join(_RESERVED_WORDS)}")
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            self_sign_up_enabled=True,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            user_verification=cognito.UserVerificationConfig(
                email_style=cognito.VerificationEmailStyle.CODE
            ),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                password_history_size=5,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True, email=False),
            # No SMS at all: no SMS role, no phone numbers, no SMS spend.
            enable_sms_role=False,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=retain,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self._acknowledge_user_pool()

        self.client = self.user_pool.add_client(
            "WebClient",
            # A page cannot keep a secret; PKCE stands in for it.
            generate_secret=False,
            auth_flows=cognito.AuthFlow(
                user_srp=True,
                # For operators only (it needs IAM credentials): an ID token for the smoke
                # check from the command line, without a browser.
                admin_user_password=True,
            ),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
        )
        self.redirect_url: str | None = None
        self.node.add_validation(_RedirectsSet(self))

        # A prefix unique per account and stage; the region is in the host name already.
        self.domain = self.user_pool.add_domain(
            "HostedUi",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"chatbot-{stage}-{Aws.ACCOUNT_ID}"
            ),
        )

        self.function = ChatbotFunction(
            self,
            "Authorizer",
            handler="chatbot.handlers.authorizer.handler",
            bundle=SIGN_IN,
            description="Chatbot $connect authorizer: checks the user's Cognito ID token",
            environment={
                "SIGN_IN_USER_POOL_ID": self.user_pool.user_pool_id,
                "SIGN_IN_CLIENT_ID": self.client.user_pool_client_id,
            },
            log_retention=log_retention,
            memory_size=256,
            timeout=Duration.seconds(10),
        )
        self.authorizer = authorizers.WebSocketLambdaAuthorizer(
            "SignIn", self.function.function, identity_source=[IDENTITY_SOURCE]
        )

    @property
    def domain_url(self) -> str:
        """https://PREFIX.auth.REGION.amazoncognito.com: the hosted UI and the token endpoint."""
        return self.domain.base_url()

    @property
    def web_config(self) -> WebSignIn:
        """What the page needs to sign in (its redirect URI is its own URL)."""
        return WebSignIn(domain_url=self.domain_url, client_id=self.client.user_pool_client_id)

    def allow_redirects_to(self, web_url: str) -> None:
        """The page at ``web_url`` is the app client's only callback and logout URL."""
        client = cast(cognito.CfnUserPoolClient, self.client.node.default_child)
        client.callback_ur_ls = [web_url]
        client.logout_ur_ls = [web_url]
        client.default_redirect_uri = web_url
        self.redirect_url = web_url

    def sign_in_url(self) -> str:
        """The hosted UI's sign-in page for the web client; it sends the user on to the page."""
        if self.redirect_url is None:
            raise ValueError("call allow_redirects_to(web_url) first")
        return self.domain.sign_in_url(self.client, redirect_uri=self.redirect_url)

    def _acknowledge_user_pool(self) -> None:
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional, with authenticator apps (TOTP) only: a public chat cannot ask "
            "every visitor to enrol a second factor before the first question. Set the pool's "
            "MFA to REQUIRED for a deployment whose users must all have one.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "The Essentials plan (managed login, 10,000 free monthly users): Plus adds threat "
            "protection at a per-user price with no free tier, out of proportion for a chat "
            "whose sign-in guards no stored personal data beyond the email address.",
        )


@jsii.implements(IValidation)
class _RedirectsSet:
    """Synth fails if the page's URL was never given: the client would keep CDK's example URL."""

    def __init__(self, sign_in: UserSignIn) -> None:
        self._sign_in = sign_in

    def validate(self) -> list[str]:
        if self._sign_in.redirect_url is None:
            return ["UserSignIn.allow_redirects_to(web_url) was never called"]
        return []
