"""The chat page on CloudFront: a private S3 bucket behind OAC, plus config.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aws_cdk import CfnResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from chatbot import web_assets
from stacks.log_retention import log_group_for_provider_function
from stacks.nag import acknowledge


@dataclass(frozen=True)
class WebSignIn:
    """Where the page signs its users in: the Cognito hosted UI and the page's app client."""

    domain_url: str  # https://PREFIX.auth.REGION.amazoncognito.com (a token is fine)
    client_id: str


class WebHosting(Construct):
    """Serves ``web_dir`` over HTTPS and tells the page where the WebSocket API is.

    ``url`` is the page's address; ``websocket_url`` (a token is fine) goes into
    ``config.json`` beside the page and into the Content-Security-Policy's connect-src.
    With ``sign_in``, config.json also carries ``signIn`` (the hosted UI, the client id and
    the page's own URL as redirect URI) and connect-src lets the page reach the token endpoint.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        web_dir: Path,
        websocket_url: str,
        removal_policy: RemovalPolicy,
        log_retention: logs.RetentionDays,
        sign_in: WebSignIn | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not (web_dir / "index.html").is_file():
            raise ValueError(f"web_dir {web_dir} has no index.html")
        auto_delete = removal_policy == RemovalPolicy.DESTROY

        # One group for the deployment function's logs; its retention also sets how long the
        # access logs below are kept, so the operator chooses one number for both.
        deploy_logs = logs.LogGroup(
            self, "DeploymentLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        retention_days = cast(logs.CfnLogGroup, deploy_logs.node.default_child).retention_in_days

        # Access logs of the site bucket and of CloudFront. It logs nothing itself: it is the
        # destination (cdk-nag's S1 accepts that), and a third bucket would only move the question.
        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # CloudFront's standard logs are delivered through a bucket ACL.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(retention_days) if retention_days else None,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )

        self.bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3/",
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )

        if auto_delete:
            self._auto_delete_logs(log_retention)

        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Chat page: CSP allowing only the WebSocket API, HSTS, no framing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=_content_security_policy(websocket_url, sign_in),
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365 * 2),
                    include_subdomains=True,
                    override=True,
                ),
            ),
        )

        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Chatbot web page",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            # Edge locations in North America and Europe only: the cheapest class, and a
            # chat page of three small files gains little from the others.
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        for finding, reason in _DISTRIBUTION_FINDINGS.items():
            acknowledge(self.distribution, finding, reason)

        self.url = f"https://{self.distribution.distribution_domain_name}/"
        self._deploy(web_dir, self._config(websocket_url, sign_in), deploy_logs)

    def _auto_delete_logs(self, retention: logs.RetentionDays) -> None:
        # auto_delete_objects runs a stack-level CDK handler that takes no log group: give it
        # one with this retention, or Lambda makes one that keeps its logs forever.
        provider = Stack.of(self).node.find_child(
            "Custom::S3AutoDeleteObjectsCustomResourceProvider"
        )
        log_group_for_provider_function(
            self,
            "AutoDeleteLogs",
            function=cast(CfnResource, provider.node.find_child("Handler")),
            invoked_by=[
                cast(
                    CfnResource,
                    bucket.node.find_child("AutoDeleteObjectsCustomResource").node.default_child,
                )
                for bucket in (self.log_bucket, self.bucket)
            ],
            retention=retention,
        )

    def _config(self, websocket_url: str, sign_in: WebSignIn | None) -> dict[str, Any]:
        """config.json: what the page cannot know by itself."""
        config: dict[str, Any] = {"websocketUrl": websocket_url}
        if sign_in is not None:
            config["signIn"] = {
                "domainUrl": sign_in.domain_url,
                "clientId": sign_in.client_id,
                "redirectUri": self.url,
            }
        return config

    def _deploy(self, web_dir: Path, config: dict[str, Any], deploy_logs: logs.LogGroup) -> None:
        """Copies web/ and config.json into the bucket on every deploy, then invalidates."""
        role = iam.Role(
            self,
            "DeploymentRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Copies the chat page into its bucket (least privilege)",
        )
        # Instead of AWSLambdaBasicExecutionRole: logs go to this one group only.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[deploy_logs.log_group_arn],
            )
        )
        # BucketDeployment grants invalidation on every distribution ("*"); this caps it at ours.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"],
                not_resources=[self.distribution.distribution_arn],
            )
        )
        # Our own asset (rather than Source.asset) so that its bucket is known below.
        files = s3_assets.Asset(self, "Files", path=str(web_dir))
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            sources=[
                s3deploy.Source.bucket(files.bucket, files.s3_object_key),
                s3deploy.Source.json_data("config.json", config),
                *_vendor_sources(),
            ],
            destination_bucket=self.bucket,
            distribution=self.distribution,
            distribution_paths=["/*"],
            role=role,
            log_group=deploy_logs,
        )
        self._acknowledge_deployment(role, files.bucket)

    def _acknowledge_deployment(self, role: iam.Role, asset_bucket: s3.IBucket) -> None:
        # The handler runs `aws s3 sync --delete` from the asset zips into the site bucket;
        # these are BucketDeployment's own grants for that (grantRead of the asset bucket,
        # grantReadWrite of the site bucket), which a role passed in cannot narrow.
        why = {
            "s3:GetObject*": "to read the source zips from the asset bucket, and (as part of "
            "grantReadWrite) the objects of the site bucket",
            "s3:GetBucket*": "to locate and inspect the asset and site buckets while syncing",
            "s3:List*": "to list the site bucket so that sync can find changed and stale keys",
            "s3:DeleteObject*": "to prune files removed from web/ (site bucket only)",
            "s3:Abort*": "to abort multipart uploads a failed sync leaves (site bucket only)",
        }
        site_objects = _nag_reference(self, self.bucket.arn_for_objects("*"))
        asset_objects = _nag_reference(self, asset_bucket.arn_for_objects("*"))
        findings = {
            f"AwsSolutions-IAM5[Action::{action}]": f"BucketDeployment grants {action} {reason}."
            for action, reason in why.items()
        }
        findings[f"AwsSolutions-IAM5[Resource::{site_objects}]"] = (
            "The deployment syncs the whole site: every key of the site bucket, and only of "
            "that bucket."
        )
        findings[f"AwsSolutions-IAM5[Resource::{asset_objects}]"] = (
            "Read-only access to the CDK bootstrap asset bucket, where the source zips are; "
            "their keys are content hashes that change with every edit."
        )
        findings["AwsSolutions-IAM5[Resource::*]"] = (
            "BucketDeployment grants cloudfront:CreateInvalidation and GetInvalidation on '*'; "
            "a Deny statement in the same policy limits both to this distribution."
        )
        for finding, reason in findings.items():
            acknowledge(role, finding, reason)
        [handler] = [
            child
            for child in self.deployment.node.children
            if isinstance(child, lambda_.SingletonFunction)
        ]
        # The handler function itself lives at stack level, shared by BucketDeployments.
        acknowledge(
            Stack.of(self).node.find_child(handler.construct_name),
            "AwsSolutions-L1",
            "BucketDeployment's handler runtime is set by aws-cdk-lib and cannot be configured "
            "(python3.13 in 2.275, a supported runtime); upgrading aws-cdk-lib moves it forward.",
        )


def _vendor_sources() -> list[s3deploy.ISource]:
    """The page's third-party libraries (chatbot.web_assets), from node_modules to vendor/:
    served from the page's own origin, so the CSP's default-src 'self' covers them."""
    return [
        s3deploy.Source.data(f"{web_assets.VENDOR_PREFIX}{name}", path.read_text("utf-8"))
        for name, path in web_assets.vendor_files().items()
    ]


def _content_security_policy(websocket_url: str, sign_in: WebSignIn | None) -> str:
    # wss://HOST/STAGE -> HOST; Fn.split/Fn.select also work on a token known only at deploy.
    api_host = Fn.select(2, Fn.split("/", websocket_url))
    # The page posts the authorization code to the hosted UI's token endpoint.
    token_endpoint = f" {sign_in.domain_url}" if sign_in is not None else ""
    return "; ".join(
        [
            "default-src 'self'",
            f"connect-src 'self' wss://{api_host}{token_endpoint}",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _nag_reference(scope: Construct, value: str) -> str:
    """``value`` as cdk-nag names it in a finding id: Fn::Join flattened, refs as <Name.Attr>."""
    return _flatten(Stack.of(scope).resolve(value))


def _flatten(node: Any) -> str:
    # Mirrors cdk-nag's flattenCfnReference (utils/flatten-cfn-reference.js).
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    raise ValueError(f"cannot name {node!r} as cdk-nag does")


_DISTRIBUTION_FINDINGS = {
    "AwsSolutions-CFR1": "A public chat page with no country-specific obligations: a geo "
    "restriction would only lock out legitimate users.",
    "AwsSolutions-CFR2": "The distribution serves the static chat page from a private bucket "
    "(no forms, no origin compute) and has Shield Standard; abuse control belongs at the "
    "WebSocket API, which this distribution does not front. A web ACL would add a fixed "
    "monthly cost per stage for nothing to inspect.",
    "AwsSolutions-CFR4": "With the default *.cloudfront.net certificate CloudFront fixes the "
    "viewer security policy at TLSv1 and ignores a minimum protocol version (the CDK warns); "
    "TLSv1.2_2021 needs a custom domain with an ACM certificate, which this stack does not "
    "have. Browsers negotiate TLS 1.2 or 1.3 regardless.",
}
