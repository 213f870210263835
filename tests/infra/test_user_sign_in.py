"""Context userSignIn: a Cognito user pool, its hosted UI, and the ID token checked at $connect."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs

from chatbot.protocol import ACTIONS
from stacks.constructs.user_sign_in import IDENTITY_SOURCE, UserSignIn
from tests.infra.conftest import Synthesized, assert_cfn_lint_clean, synthesize

AUTHORIZER_HANDLER = "chatbot.handlers.authorizer.handler"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synthesized, Path]:
    """The whole app with userSignIn=true, cdk-nag on (synth raises on any finding)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    return synthesize({"userSignIn": "true"}, outdir), outdir


@pytest.fixture
def app(signed: tuple[Synthesized, Path]) -> Synthesized:
    return signed[0]


def one(synthesized: Synthesized, resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = synthesized.resources(resource_type).items()
    return logical_id, resource


def authorizer_function(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = [
        (logical_id, resource)
        for logical_id, resource in synthesized.resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == AUTHORIZER_HANDLER
    ]
    return logical_id, resource


def routes(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in synthesized.resources("AWS::ApiGatewayV2::Route").values()
    }


def acknowledgments(synthesized: Synthesized) -> dict[str, set[str]]:
    """construct path -> the cdk-nag findings acknowledged on it."""
    found: dict[str, set[str]] = {}
    for construct in synthesized.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.setdefault(construct.node.path, set()).update(entry.data)
    return found


def config_json(signed: tuple[Synthesized, Path]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The staged config.json (deploy-time values as markers) and what each marker becomes."""
    synthesized, outdir = signed
    _, deployment = one(synthesized, "Custom::CDKBucketDeployment")
    key = deployment["Properties"]["SourceObjectKeys"][1].removesuffix(".zip")
    text = (outdir / f"asset.{key}" / "config.json").read_text()
    # Markers stand unquoted in the JSON; quote them to read its shape.
    config = json.loads(re.sub(r"(<<marker:0x[0-9a-f]+:\d+>>)", r'"\1"', text))
    return config, deployment["Properties"]["SourceMarkers"][1]


# --- the user pool -------------------------------------------------------------------------


def test_users_sign_in_with_email_sign_up_themselves_and_verify_it(app: Synthesized) -> None:
    _, pool = one(app, "AWS::Cognito::UserPool")
    properties = pool["Properties"]
    assert properties["UsernameAttributes"] == ["email"]
    assert properties["AutoVerifiedAttributes"] == ["email"]
    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert properties["AccountRecoverySetting"] == {
        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
    }
    assert properties["UsernameConfiguration"] == {"CaseSensitive": False}


def test_passwords_are_strong_and_mfa_is_optional_with_authenticator_apps(
    app: Synthesized,
) -> None:
    _, pool = one(app, "AWS::Cognito::UserPool")
    properties = pool["Properties"]
    policy = properties["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols")
    )
    assert properties["MfaConfiguration"] == "OPTIONAL"
    assert properties["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    # No SMS: no role for it and nothing to pay for.
    assert "SmsConfiguration" not in properties
    assert not [
        role
        for role in app.resources("AWS::IAM::Role").values()
        if "cognito-idp.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    ]


def test_the_user_pool_goes_with_the_stack_unless_data_is_retained(app: Synthesized) -> None:
    _, pool = one(app, "AWS::Cognito::UserPool")
    assert pool["DeletionPolicy"] == "Delete"
    assert pool["Properties"]["DeletionProtection"] == "INACTIVE"


def test_a_retained_user_pool_survives_the_stack_and_refuses_deletion() -> None:
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "Retained")
    sign_in = UserSignIn(
        stack, "SignIn", stage="prod", retain=True, log_retention=logs.RetentionDays.ONE_MONTH
    )
    sign_in.allow_redirects_to("https://d111.cloudfront.net/")
    template = app.synth().get_stack_by_name("Retained").template
    [pool] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Cognito::UserPool"]
    assert pool["DeletionPolicy"] == "Retain"
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"


def test_synth_fails_when_the_page_url_was_never_given() -> None:
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "Unfinished")
    UserSignIn(stack, "SignIn", stage="dev", retain=False, log_retention=logs.RetentionDays.ONE_DAY)
    with pytest.raises(RuntimeError, match=r"allow_redirects_to"):
        app.synth()


def test_a_stage_cognito_would_refuse_in_a_domain_prefix_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Invalid")
    with pytest.raises(ValueError, match="stage 'awsdev'"):
        UserSignIn(
            stack, "SignIn", stage="awsdev", retain=False, log_retention=logs.RetentionDays.ONE_DAY
        )


# --- the app client and the hosted UI -------------------------------------------------------


def test_the_page_client_has_no_secret_and_uses_the_code_grant_back_to_the_page(
    app: Synthesized,
) -> None:
    pool_id, _ = one(app, "AWS::Cognito::UserPool")
    _, client = one(app, "AWS::Cognito::UserPoolClient")
    properties = client["Properties"]
    assert properties["UserPoolId"] == {"Ref": pool_id}
    assert properties["GenerateSecret"] is False
    assert properties["AllowedOAuthFlows"] == ["code"]
    assert properties["AllowedOAuthFlowsUserPoolClient"] is True
    assert properties["AllowedOAuthScopes"] == ["openid", "email"]
    assert properties["SupportedIdentityProviders"] == ["COGNITO"]
    assert properties["PreventUserExistenceErrors"] == "ENABLED"
    [distribution_id] = app.resources("AWS::CloudFront::Distribution")
    web_url = {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]}
    assert properties["CallbackURLs"] == [web_url]
    assert properties["LogoutURLs"] == [web_url]
    assert app.json["Outputs"]["WebUrl"]["Value"] == web_url


def test_the_hosted_ui_prefix_is_unique_per_account_and_stage(app: Synthesized) -> None:
    pool_id, _ = one(app, "AWS::Cognito::UserPool")
    _, domain = one(app, "AWS::Cognito::UserPoolDomain")
    assert domain["Properties"]["UserPoolId"] == {"Ref": pool_id}
    assert domain["Properties"]["Domain"] == {
        "Fn::Join": ["", ["chatbot-dev-", {"Ref": "AWS::AccountId"}]]
    }


def test_outputs_name_the_pool_the_client_and_the_sign_in_page(app: Synthesized) -> None:
    outputs = app.json["Outputs"]
    pool_id, _ = one(app, "AWS::Cognito::UserPool")
    client_id, _ = one(app, "AWS::Cognito::UserPoolClient")
    domain_id, _ = one(app, "AWS::Cognito::UserPoolDomain")
    assert outputs["UserPoolId"]["Value"] == {"Ref": pool_id}
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": client_id}
    sign_in_url = outputs["SignInUrl"]["Value"]["Fn::Join"][1]
    assert sign_in_url[:2] == ["https://", {"Ref": domain_id}]
    assert {"Ref": client_id} in sign_in_url
    assert ".amazoncognito.com/login?client_id=" in sign_in_url


# --- the authorizer ------------------------------------------------------------------------


def test_only_connect_is_authorized_by_the_token_in_the_query_string(app: Synthesized) -> None:
    function_id, _ = authorizer_function(app)
    authorizer_id, authorizer = one(app, "AWS::ApiGatewayV2::Authorizer")
    assert authorizer["Properties"]["AuthorizerType"] == "REQUEST"
    assert authorizer["Properties"]["IdentitySource"] == [IDENTITY_SOURCE]
    assert {"Fn::GetAtt": [function_id, "Arn"]} in authorizer["Properties"]["AuthorizerUri"][
        "Fn::Join"
    ][1]
    by_key = routes(app)
    assert set(by_key) == {"$connect", "$disconnect", "$default", *ACTIONS}
    assert by_key["$connect"]["AuthorizationType"] == "CUSTOM"
    assert by_key["$connect"]["AuthorizerId"] == {"Ref": authorizer_id}
    for key, route in by_key.items():
        if key != "$connect":
            # API Gateway authorizes a WebSocket connection once, at its handshake.
            assert route.get("AuthorizationType", "NONE") == "NONE", key
            assert "AuthorizerId" not in route, key


def test_api_gateway_may_invoke_the_authorizer_for_this_authorizer_only(app: Synthesized) -> None:
    function_id, _ = authorizer_function(app)
    authorizer_id, _ = one(app, "AWS::ApiGatewayV2::Authorizer")
    [permission] = [
        resource["Properties"]
        for resource in app.resources("AWS::Lambda::Permission").values()
        if resource["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"]["Fn::Join"][1][-2:] == ["/authorizers/", {"Ref": authorizer_id}]


def test_the_authorizer_knows_the_pool_and_client_and_nothing_else(app: Synthesized) -> None:
    pool_id, _ = one(app, "AWS::Cognito::UserPool")
    client_id, _ = one(app, "AWS::Cognito::UserPoolClient")
    _, function = authorizer_function(app)
    assert function["Properties"]["Environment"]["Variables"] == {
        "CHATBOT_ENV": "aws",
        "POWERTOOLS_SERVICE_NAME": "chatbot",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SIGN_IN_USER_POOL_ID": {"Ref": pool_id},
        "SIGN_IN_CLIENT_ID": {"Ref": client_id},
    }
    assert function["Properties"]["Runtime"] == "python3.14"
    assert function["Properties"]["Architectures"] == ["arm64"]


def test_the_authorizer_may_write_its_own_logs_and_touch_nothing_else(app: Synthesized) -> None:
    _, function = authorizer_function(app)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    statements = [
        statement
        for policy in app.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        }
    ]
    assert "ManagedPolicyArns" not in app.json["Resources"][role]["Properties"]


def test_the_authorizer_has_alarms_like_every_function(app: Synthesized) -> None:
    function_id, _ = authorizer_function(app)
    watched = {
        alarm["Properties"]["MetricName"]
        for alarm in app.resources("AWS::CloudWatch::Alarm").values()
        if {"Name": "FunctionName", "Value": {"Ref": function_id}}
        in alarm["Properties"].get("Dimensions", [])
    }
    assert {"Errors", "Throttles"} <= watched


# --- the page -------------------------------------------------------------------------------


def test_config_json_tells_the_page_how_to_sign_in(signed: tuple[Synthesized, Path]) -> None:
    app = signed[0]
    config, markers = config_json(signed)
    assert set(config) == {"websocketUrl", "signIn"}
    assert set(config["signIn"]) == {"domainUrl", "clientId", "redirectUri"}
    domain_id, _ = one(app, "AWS::Cognito::UserPoolDomain")
    client_id, _ = one(app, "AWS::Cognito::UserPoolClient")
    [distribution_id] = app.resources("AWS::CloudFront::Distribution")
    sign_in = config["signIn"]
    # Each marker becomes a JSON string at deploy time, quotes included.
    assert markers[sign_in["domainUrl"]]["Fn::Join"][1] == [
        '"https://',
        {"Ref": domain_id},
        ".auth.",
        {"Ref": "AWS::Region"},
        '.amazoncognito.com"',
    ]
    assert markers[sign_in["clientId"]]["Fn::Join"][1] == ['"', {"Ref": client_id}, '"']
    assert markers[sign_in["redirectUri"]]["Fn::Join"][1] == [
        '"https://',
        {"Fn::GetAtt": [distribution_id, "DomainName"]},
        '/"',
    ]


def test_the_page_may_reach_the_token_endpoint_and_no_other_host(app: Synthesized) -> None:
    domain_id, _ = one(app, "AWS::Cognito::UserPoolDomain")
    _, headers = one(app, "AWS::CloudFront::ResponseHeadersPolicy")
    csp = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]["ContentSecurityPolicy"]["Fn::Join"][1]
    at = csp.index({"Ref": domain_id})
    assert csp[at - 1] == " https://"
    assert csp[at + 1 : at + 3] == [".auth.", {"Ref": "AWS::Region"}]
    assert csp[at + 3].startswith(".amazoncognito.com; img-src")


# --- checks --------------------------------------------------------------------------------


def test_cdk_nag_findings_are_acknowledged_only_where_sign_in_leaves_them(
    app: Synthesized,
) -> None:
    found = acknowledgments(app)
    assert found["Chatbot-dev/SignIn/UserPool"] == {
        "Annotation::AwsSolutions-COG2",
        "Annotation::AwsSolutions-COG8",
    }
    open_routes = {
        path for path, rules in found.items() if "Annotation::AwsSolutions-APIG4" in rules
    }
    assert "Chatbot-dev/WebSocketApi/Api/$connect-Route/Resource" not in open_routes
    assert len(open_routes) == len(routes(app)) - 1


def test_cfn_lint_finds_no_error_with_sign_in(app: Synthesized) -> None:
    assert_cfn_lint_clean(app.json, allowed_warnings={"W3005"})


# --- the default deployment ----------------------------------------------------------------


def test_by_default_there_is_no_user_pool_and_no_authorizer(synthesized: Synthesized) -> None:
    rendered = json.dumps(synthesized.json)
    assert "AWS::Cognito::" not in rendered
    assert synthesized.resources("AWS::ApiGatewayV2::Authorizer") == {}
    assert routes(synthesized)["$connect"].get("AuthorizationType", "NONE") == "NONE"
    assert not any(
        resource["Properties"].get("Handler") == AUTHORIZER_HANDLER
        for resource in synthesized.resources("AWS::Lambda::Function").values()
    )
    assert "amazoncognito.com" not in rendered
    assert not {"UserPoolId", "UserPoolClientId", "SignInUrl"} & set(synthesized.json["Outputs"])
    # Every route, $connect included, is open and says why.
    open_routes = [
        path
        for path, rules in acknowledgments(synthesized).items()
        if "Annotation::AwsSolutions-APIG4" in rules
    ]
    assert len(open_routes) == len(routes(synthesized))
