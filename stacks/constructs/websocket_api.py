"""The API Gateway WebSocket API: routes by `$request.body.action`, one stage, access logs."""

from __future__ import annotations

import json
from collections.abc import Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge, logical_id

# One JSON line per request: enough to trace a connection without logging message content.
_ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "eventType": "$context.eventType",
    "status": "$context.status",
    "connectionId": "$context.connectionId",
    "integrationLatency": "$context.integrationLatency",
    "error": "$context.error.message",
    "integrationError": "$context.integration.error",
}


class ChatWebSocketApi(Construct):
    """Every route goes to one handler function, as PROTOCOL.md routes frames by `action`.

    ``authorizer`` (user sign-in) guards `$connect` only: API Gateway authorizes a WebSocket
    connection once, at the handshake, and every later frame rides on that connection.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        actions: Sequence[str],
        stage_name: str,
        rate_limit: int,
        burst_limit: int,
        log_retention: logs.RetentionDays,
        authorizer: apigwv2.IWebSocketRouteAuthorizer | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        integration = integrations.WebSocketLambdaIntegration("Handler", handler)
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            description="Chatbot WebSocket API (shared/PROTOCOL.md)",
            route_selection_expression="$request.body.action",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integration, authorizer=authorizer
            ),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
            default_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
        )
        for action in actions:
            self.api.add_route(action, integration=integration)

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=stage_name,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
            access_log_settings=_JsonAccessLogs(self.access_logs),
        )
        self._account_logging_role()
        self._acknowledge_open_routes(connect_authorized=authorizer is not None)

    @property
    def url(self) -> str:
        """wss://... : what clients connect to."""
        return self.stage.url

    @property
    def callback_url(self) -> str:
        """https://... : the @connections endpoint the functions post to."""
        return self.stage.callback_url

    def grant_manage_connections(self, grantee: iam.IGrantable, methods: Sequence[str]) -> None:
        """@connections on this API's stage only, for exactly these HTTP methods."""
        stack = Stack.of(self)
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["execute-api:ManageConnections"],
            resource_arns=[
                stack.format_arn(
                    service="execute-api",
                    resource=self.api.api_id,
                    resource_name=f"{self.stage.stage_name}/{method}/@connections/*",
                )
                for method in methods
            ],
        )
        api = logical_id(self.api.node.default_child)  # type: ignore[arg-type]
        for method in methods:
            acknowledge(
                grantee,  # type: ignore[arg-type]
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
                f"<AWS::AccountId>:<{api}>/{self.stage.stage_name}/{method}/@connections/*]",
                "Connection ids are made by API Gateway at runtime, so @connections/* is the "
                "narrowest resource: this API, this stage and this one HTTP method.",
            )

    def _account_logging_role(self) -> None:
        # WebSocket APIs write access logs through the account-level API Gateway role.
        # Retained on destroy: the account setting outlives this stack and must keep working
        # for any other API in the account that relies on it.
        role = iam.Role(
            self,
            "ApiGatewayLoggingRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        account = apigateway.CfnAccount(
            self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn
        )
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        self.stage.node.add_dependency(account)
        Validations.of(role).acknowledge(
            cdk.Acknowledgment(
                id=(
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs]"
                ),
                reason=(
                    "API Gateway's own logging role: AWS maintains this policy for exactly this "
                    "purpose (log groups API Gateway creates have names we cannot know)."
                ),
            )
        )

    def _acknowledge_open_routes(self, *, connect_authorized: bool) -> None:
        for route in self.api.node.find_all():
            if not isinstance(route, apigwv2.CfnRoute):
                continue
            if route.route_key == "$connect" and connect_authorized:
                continue  # authorized: nothing to acknowledge
            if connect_authorized:
                reason = (
                    "API Gateway authorizes a WebSocket connection once, at $connect, whose "
                    "authorizer checks the user's ID token; frames on this route arrive only "
                    "over a connection that passed it, and act on its own session."
                )
            else:
                reason = (
                    "A public chat: anyone may open a session. $connect checks the HMAC "
                    "session token to resume one (shared/PROTOCOL.md); every other route "
                    "acts only on the connection's own session."
                )
            Validations.of(route).acknowledge(
                cdk.Acknowledgment(id="AwsSolutions-APIG4", reason=reason)
            )


@jsii.implements(apigwv2.IAccessLogSettings)
class _JsonAccessLogs:
    """Access logs as one JSON line per request, into the given log group."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FORMAT))
