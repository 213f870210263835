"""The WebHosting construct's template: private bucket, OAC, HTTPS, headers, config.json, checks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_logs as logs
from constructs import Construct

from chatbot import web_assets
from stacks.constructs.web_hosting import WebHosting
from tests.infra.conftest import TemplateResources, assert_cfn_lint_clean, construct_test_app

REPO = Path(__file__).resolve().parents[2]
WEB_DIR = REPO / "web"
API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
WEBSOCKET_URL = f"wss://{API_HOST}/dev"


@dataclass
class Hosted(TemplateResources):
    """One synthesized stack holding a WebHosting, and the ids needed to read its template."""

    json: dict[str, Any]
    ids: dict[str, str]
    url: Any
    distribution_arn: Any
    outdir: Path

    def one(self, resource_type: str) -> dict[str, Any]:
        [resource] = self.resources(resource_type).values()
        return resource

    def bucket_policy(self, bucket: str) -> list[dict[str, Any]]:
        [policy] = [
            resource["Properties"]["PolicyDocument"]["Statement"]
            for resource in self.resources("AWS::S3::BucketPolicy").values()
            if resource["Properties"]["Bucket"] == {"Ref": self.ids[bucket]}
        ]
        return policy  # type: ignore[no-any-return]

    def staged(self, source_index: int) -> Path:
        """The staged directory of the deployment's n-th source (the zip's contents)."""
        key = self.one("Custom::CDKBucketDeployment")["Properties"]["SourceObjectKeys"]
        return self.outdir / f"asset.{key[source_index].removesuffix('.zip')}"


@dataclass
class Synthesis:
    destroyed: Hosted  # removal_policy DESTROY, a literal URL, a concrete account and region
    retained: Hosted  # removal_policy RETAIN, the URL a token, an environment-agnostic stack
    nag_error: str | None
    acknowledgments: dict[str, str]


def _hosted(stack: cdk.Stack, hosting: WebHosting, outdir: Path) -> Hosted:
    template_json = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())

    def logical_id(construct: Construct) -> str:
        return stack.get_logical_id(cast(cdk.CfnElement, construct.node.default_child))

    ids = {
        "site": logical_id(hosting.bucket),
        "logs": logical_id(hosting.log_bucket),
        "distribution": logical_id(hosting.distribution),
    }
    return Hosted(
        template_json,
        ids,
        stack.resolve(hosting.url),
        stack.resolve(hosting.distribution.distribution_arn),
        outdir,
    )


@pytest.fixture(scope="module")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """Both variants in one app, synthesized once with cdk-nag on."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    # The project's feature flags, so the template is the one `cdk deploy` would make.
    app = construct_test_app(outdir)
    destroyed = cdk.Stack(
        app, "WebDestroyed", env=cdk.Environment(account="123456789012", region="us-east-1")
    )
    destroyed_hosting = WebHosting(
        destroyed,
        "Web",
        web_dir=WEB_DIR,
        websocket_url=WEBSOCKET_URL,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    retained = cdk.Stack(app, "WebRetained")
    api = apigwv2.CfnApi(
        retained,
        "Api",
        name="chatbot",
        protocol_type="WEBSOCKET",
        route_selection_expression="$request.body.action",
    )
    retained_hosting = WebHosting(
        retained,
        "Web",
        web_dir=WEB_DIR,
        websocket_url=f"wss://{api.ref}.execute-api.{retained.region}.{retained.url_suffix}/dev",
        removal_policy=cdk.RemovalPolicy.RETAIN,
        log_retention=logs.RetentionDays.INFINITE,
    )
    nag_error = None
    try:
        app.synth()
    except RuntimeError as error:
        # The templates are written before validation runs; the report names each finding.
        report = json.loads((outdir / "validation-report.json").read_text())
        findings = [
            f"{violation['ruleName']} at {construct['constructPath']}"
            for plugin in report["pluginReports"]
            for violation in plugin["violations"]
            for construct in violation["violatingConstructs"]
        ]
        nag_error = f"{error}: {findings}"
    acknowledgments: dict[str, str] = {}
    for construct in destroyed.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledgments.update(entry.data)
    return Synthesis(
        _hosted(destroyed, destroyed_hosting, outdir),
        _hosted(retained, retained_hosting, outdir),
        nag_error,
        acknowledgments,
    )


@pytest.fixture
def hosted(synthesis: Synthesis) -> Hosted:
    return synthesis.destroyed


def rendered(value: Any) -> str:
    """A string property with references written as cdk-nag does: <Ref> and <Id.Attr>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(rendered(part) for part in parts)
    raise AssertionError(f"unexpected intrinsic {value}")


def csp_directives(policy: str) -> dict[str, str]:
    directives = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: value for name, _, value in directives}


# --- the buckets ---------------------------------------------------------------------------


def test_site_bucket_is_private_encrypted_and_logs_its_access(hosted: Hosted) -> None:
    site = hosted.json["Resources"][hosted.ids["site"]]["Properties"]
    assert site["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert site["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    assert site["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert site["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": hosted.ids["logs"]},
        "LogFilePrefix": "s3/",
    }


@pytest.mark.parametrize("bucket", ["site", "logs"])
def test_bucket_refuses_every_request_without_tls(hosted: Hosted, bucket: str) -> None:
    arn = {"Fn::GetAtt": [hosted.ids[bucket], "Arn"]}
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": [arn, {"Fn::Join": ["", [arn, "/*"]]}],
    } in hosted.bucket_policy(bucket)


def test_only_this_distribution_may_read_the_site_bucket(hosted: Hosted) -> None:
    readers = [
        statement
        for statement in hosted.bucket_policy("site")
        if statement["Effect"] == "Allow" and "s3:GetObject" in statement["Action"]
    ]
    [reader] = readers
    assert reader["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert reader["Action"] == "s3:GetObject"
    assert rendered(reader["Resource"]) == f"<{hosted.ids['site']}.Arn>/*"
    source = rendered(reader["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert re.fullmatch(
        rf"arn:\S+:cloudfront::\S+:distribution/<{hosted.ids['distribution']}>", source
    )


def test_access_logs_accept_cloudfront_deliveries_and_expire_with_the_log_retention(
    hosted: Hosted,
) -> None:
    log_bucket = hosted.json["Resources"][hosted.ids["logs"]]["Properties"]
    # CloudFront's standard logs are written through an ACL, which ObjectWriter allows.
    assert log_bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    assert log_bucket["LifecycleConfiguration"]["Rules"] == [
        {
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            "ExpirationInDays": 30,
            "Status": "Enabled",
        }
    ]
    assert log_bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def test_buckets_are_emptied_and_deleted_with_the_stack_when_not_retained(
    hosted: Hosted,
) -> None:
    for bucket in ("site", "logs"):
        assert hosted.json["Resources"][hosted.ids[bucket]]["DeletionPolicy"] == "Delete"
    emptied = [
        resource["Properties"]["BucketName"]
        for resource in hosted.resources("Custom::S3AutoDeleteObjects").values()
    ]
    assert sorted(emptied, key=str) == sorted(
        [{"Ref": hosted.ids["site"]}, {"Ref": hosted.ids["logs"]}], key=str
    )


def test_retained_buckets_survive_the_stack_and_keep_their_objects(
    synthesis: Synthesis,
) -> None:
    retained = synthesis.retained
    for bucket in ("site", "logs"):
        assert retained.json["Resources"][retained.ids[bucket]]["DeletionPolicy"] == "Retain"
    assert retained.resources("Custom::S3AutoDeleteObjects") == {}
    # Logs kept forever when the log retention is INFINITE.
    log_rules = retained.json["Resources"][retained.ids["logs"]]["Properties"]
    assert "ExpirationInDays" not in log_rules["LifecycleConfiguration"]["Rules"][0]


# --- the distribution ----------------------------------------------------------------------


def test_distribution_reads_the_bucket_through_origin_access_control(hosted: Hosted) -> None:
    [(oac_id, oac)] = hosted.resources("AWS::CloudFront::OriginAccessControl").items()
    config = oac["Properties"]["OriginAccessControlConfig"]
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"]) == ("s3", "always")
    assert config["SigningProtocol"] == "sigv4"
    distribution = hosted.one("AWS::CloudFront::Distribution")["Properties"]
    [origin] = distribution["DistributionConfig"]["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": [hosted.ids["site"], "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    # No legacy origin access identity beside it.
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_viewers_get_https_only_the_chat_page_at_the_root_and_are_logged(
    hosted: Hosted,
) -> None:
    config = hosted.one("AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["Compress"] is True
    [headers_id] = hosted.resources("AWS::CloudFront::ResponseHeadersPolicy")
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": headers_id}
    assert config["Logging"] == {
        "Bucket": {"Fn::GetAtt": [hosted.ids["logs"], "RegionalDomainName"]},
        "Prefix": "cloudfront/",
    }


def test_url_is_the_distribution_domain_over_https(hosted: Hosted) -> None:
    assert hosted.url == {
        "Fn::Join": [
            "",
            ["https://", {"Fn::GetAtt": [hosted.ids["distribution"], "DomainName"]}, "/"],
        ]
    }


# --- security headers ----------------------------------------------------------------------


def security_headers(hosted: Hosted) -> dict[str, Any]:
    policy = hosted.one("AWS::CloudFront::ResponseHeadersPolicy")["Properties"]
    return policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]  # type: ignore[no-any-return]


def test_security_headers_forbid_framing_sniffing_referrers_and_plain_http(
    hosted: Hosted,
) -> None:
    headers = security_headers(hosted)
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    assert headers["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 2 * 365 * 24 * 3600,
        "IncludeSubdomains": True,
        "Override": True,
    }


def test_csp_keeps_the_pages_own_policy_and_lets_it_reach_only_the_api(hosted: Hosted) -> None:
    header = security_headers(hosted)["ContentSecurityPolicy"]
    assert header["Override"] is True
    served = csp_directives(header["ContentSecurityPolicy"])
    page = re.search(
        r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"',
        (WEB_DIR / "index.html").read_text(),
    )
    assert page, "web/index.html declares its CSP in a meta tag"
    declared = csp_directives(page.group(1))
    # The header repeats every directive of the page (so it cannot loosen them), narrows
    # connect-src from any ws:/wss: host to the API, and adds what only a header can say.
    assert {name: served[name] for name in declared if name != "connect-src"} == {
        name: value for name, value in declared.items() if name != "connect-src"
    }
    assert served["connect-src"] == f"'self' wss://{API_HOST}"
    assert served["frame-ancestors"] == "'none'"


def test_csp_names_the_api_host_of_a_url_known_only_at_deploy(synthesis: Synthesis) -> None:
    header = security_headers(synthesis.retained)["ContentSecurityPolicy"]
    [api_id] = synthesis.retained.resources("AWS::ApiGatewayV2::Api")
    [before, host, after] = header["ContentSecurityPolicy"]["Fn::Join"][1]
    assert before.endswith("connect-src 'self' wss://")
    assert after.startswith("; ")
    # Fn::Select 2 of the URL split on "/": wss: / (empty) / HOST / stage.
    assert host["Fn::Select"][0] == 2
    split = host["Fn::Select"][1]["Fn::Split"]
    assert split[0] == "/"
    assert {"Ref": api_id} in split[1]["Fn::Join"][1]


# --- the deployment ------------------------------------------------------------------------


def test_deployment_syncs_the_page_into_the_bucket_and_invalidates_everything(
    hosted: Hosted,
) -> None:
    deployment = hosted.one("Custom::CDKBucketDeployment")["Properties"]
    assert deployment["DestinationBucketName"] == {"Ref": hosted.ids["site"]}
    assert deployment["DistributionId"] == {"Ref": hosted.ids["distribution"]}
    assert deployment["DistributionPaths"] == ["/*"]
    assert deployment["Prune"] is True
    assert sorted(path.name for path in hosted.staged(0).iterdir()) == sorted(
        path.name for path in WEB_DIR.iterdir()
    )


def test_every_vendor_library_is_deployed_under_vendor_byte_for_byte(hosted: Hosted) -> None:
    keys = hosted.one("Custom::CDKBucketDeployment")["Properties"]["SourceObjectKeys"]
    deployed = {
        path.relative_to(hosted.staged(index)).as_posix(): path.read_bytes()
        for index in range(1, len(keys))
        for path in hosted.staged(index).rglob("*")
        if path.is_file()
    }
    expected = {
        f"vendor/{name}": path.read_bytes() for name, path in web_assets.vendor_files().items()
    }
    assert {key: value for key, value in deployed.items() if key.startswith("vendor/")} == expected
    # Each file is its own object, not one the page would have to unpack.
    assert set(deployed) == {"config.json", *expected}


def test_config_json_tells_the_page_where_the_websocket_api_is(hosted: Hosted) -> None:
    config = hosted.staged(1)
    assert [path.name for path in config.iterdir()] == ["config.json"]
    assert json.loads((config / "config.json").read_text()) == {"websocketUrl": WEBSOCKET_URL}


def test_config_json_gets_a_deploy_time_url_filled_in_by_the_deployment(
    synthesis: Synthesis,
) -> None:
    retained = synthesis.retained
    config = (retained.staged(1) / "config.json").read_text()
    marker = re.fullmatch(r'\{"websocketUrl":(<<marker:0x[0-9a-f]+:\d+>>)\}', config)
    assert marker, config
    markers = retained.one("Custom::CDKBucketDeployment")["Properties"]["SourceMarkers"]
    [api_id] = retained.resources("AWS::ApiGatewayV2::Api")
    url = markers[1][marker.group(1)]["Fn::Join"][1]
    assert url[:2] == ['"wss://', {"Ref": api_id}]
    assert url[-1] == '/dev"'


def test_deployment_role_has_no_managed_policy_and_invalidates_only_this_distribution(
    hosted: Hosted,
) -> None:
    [(role_id, role)] = [
        (name, resource)
        for name, resource in hosted.resources("AWS::IAM::Role").items()
        if name.startswith("WebDeploymentRole")
    ]
    assert "ManagedPolicyArns" not in role["Properties"]
    [policy] = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for resource in hosted.resources("AWS::IAM::Policy").values()
        if resource["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    [log_group_id] = [
        name for name in hosted.resources("AWS::Logs::LogGroup") if name.startswith("WebDeployment")
    ]
    assert {
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
    } in policy
    assert {
        "Action": ["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"],
        "Effect": "Deny",
        "NotResource": hosted.distribution_arn,
    } in policy


def test_deployment_logs_are_kept_for_the_log_retention(hosted: Hosted) -> None:
    [(log_group_id, log_group)] = [
        (name, group)
        for name, group in hosted.resources("AWS::Logs::LogGroup").items()
        if name.startswith("WebDeployment")
    ]
    assert log_group["Properties"]["RetentionInDays"] == 30
    [handler] = [
        function["Properties"]
        for function in hosted.resources("AWS::Lambda::Function").values()
        if "LoggingConfig" in function["Properties"]
    ]
    assert handler["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}


def test_the_auto_delete_handler_logs_to_a_group_with_the_log_retention(hosted: Hosted) -> None:
    [(handler_id, _)] = [
        (name, function)
        for name, function in hosted.resources("AWS::Lambda::Function").items()
        if name.startswith("CustomS3AutoDeleteObjects")
    ]
    [log_group] = [
        group["Properties"]
        for name, group in hosted.resources("AWS::Logs::LogGroup").items()
        if name.startswith("WebAutoDeleteLogs")
    ]
    assert log_group["LogGroupName"] == {"Fn::Join": ["", ["/aws/lambda/", {"Ref": handler_id}]]}
    assert log_group["RetentionInDays"] == 30


# --- checks --------------------------------------------------------------------------------


def test_synth_raises_no_cdk_nag_finding(synthesis: Synthesis) -> None:
    assert synthesis.nag_error is None


def test_every_acknowledgment_is_a_known_finding_with_its_reason(synthesis: Synthesis) -> None:
    site = synthesis.destroyed.ids["site"]
    # The project's feature flags write the partition as a literal.
    assets = "arn:aws:s3:::cdk-hnb659fds-assets-123456789012-us-east-1/*"
    assert set(synthesis.acknowledgments) == {
        f"Annotation::AwsSolutions-{rule}"
        for rule in (
            "CFR1",
            "CFR2",
            "CFR4",
            "L1",
            "IAM5[Action::s3:GetObject*]",
            "IAM5[Action::s3:GetBucket*]",
            "IAM5[Action::s3:List*]",
            "IAM5[Action::s3:DeleteObject*]",
            "IAM5[Action::s3:Abort*]",
            f"IAM5[Resource::<{site}.Arn>/*]",
            f"IAM5[Resource::{assets}]",
            "IAM5[Resource::*]",
        )
    }
    assert all(len(reason) > 60 for reason in synthesis.acknowledgments.values())


@pytest.mark.parametrize("variant", ["destroyed", "retained"])
def test_template_passes_cfn_lint(synthesis: Synthesis, variant: str) -> None:
    hosted: Hosted = getattr(synthesis, variant)
    # W3005: CDK itself adds a DependsOn on a function's role beside the GetAtt of it.
    assert_cfn_lint_clean(hosted.json, allowed_warnings={"W3005"})


# --- props ---------------------------------------------------------------------------------


def test_a_web_dir_without_index_html_is_refused(tmp_path: Path) -> None:
    stack = cdk.Stack(cdk.App(), "Invalid")
    with pytest.raises(ValueError, match=r"no index\.html"):
        WebHosting(
            stack,
            "Web",
            web_dir=tmp_path,
            websocket_url=WEBSOCKET_URL,
            removal_policy=cdk.RemovalPolicy.DESTROY,
            log_retention=logs.RetentionDays.ONE_MONTH,
        )
