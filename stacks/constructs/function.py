"""One Lambda function as this app runs them: arm64, newest Python, own role and log group."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.bundling import ARCHITECTURE, RUNTIME, LambdaBundle


class ChatbotFunction(Construct):
    """A function with a role that starts empty: every permission is granted by the stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        bundle: LambdaBundle,
        description: str,
        environment: dict[str, str],
        log_retention: logs.RetentionDays,
        memory_size: int = 512,
        timeout: Duration | None = None,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        # A role of our own instead of AWSLambdaBasicExecutionRole: logs go to this one group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} (least privilege)",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=bundle.code(),
            description=description,
            role=self.role,
            log_group=self.log_group,
            memory_size=memory_size,
            timeout=timeout or Duration.seconds(30),
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                "CHATBOT_ENV": "aws",
                "POWERTOOLS_SERVICE_NAME": "chatbot",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
        )
