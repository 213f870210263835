"""Amazon S3 Vectors document store: a vector bucket, its index (custom resource) and grants."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Final

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3vectors as s3vectors
from aws_cdk import custom_resources as cr
from constructs import Construct

from chatbot.adapters.aws.s3vectors_index import create_index_request
from stacks.bundling import FULL
from stacks.constructs.function import ChatbotFunction
from stacks.constructs.vector_search import PRINCIPAL_ARN, stack_creation_suffix
from stacks.nag import acknowledge, logical_id

# A vector bucket's name: 3-63 of a-z, 0-9 and "-", starting and ending with a letter or digit.
_BUCKET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# The "-" and 8 hex digits of the stack's id that ``unique_per_stack`` appends.
_SUFFIX_LENGTH: Final = 9

# QueryVectors with queryTexts, a metadata filter or returnMetadata also needs GetVectors
# (the operation's documentation in botocore's s3vectors model).
READ_ACTIONS: Final = ("s3vectors:QueryVectors", "s3vectors:GetVectors")
WRITE_ACTIONS: Final = (
    *READ_ACTIONS,
    "s3vectors:PutVectors",
    "s3vectors:DeleteVectors",
    "s3vectors:ListVectors",
)
SETUP_ACTIONS: Final = (
    "s3vectors:CreateIndex",
    "s3vectors:UpdateIndexMode",
    "s3vectors:DeleteIndex",
)


class S3VectorStore(Construct):
    """A vector bucket (SSE-S3) with the chatbot's index, created from
    ``chatbot.adapters.aws.s3vectors_index`` (CloudFormation's index takes no text search)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        index_name: str,
        embedding_model_id: str,
        embedding_dimensions: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        unique_per_stack: bool = False,
    ) -> None:
        """``unique_per_stack`` appends "-" and 8 hex digits of the stack's id to
        ``bucket_name``: a bucket retained by ``cdk destroy`` (retainData) keeps its name,
        and the next deployment of the stage would otherwise fail to create one by that name."""
        super().__init__(scope, construct_id)
        checked = bucket_name + ("-0a1b2c3d" if unique_per_stack else "")
        if not _BUCKET_NAME.fullmatch(checked) or "--" in checked:
            limit = 63 - (_SUFFIX_LENGTH if unique_per_stack else 0)
            raise ValueError(
                f"bucket_name must be 3-{limit} characters of a-z, 0-9 and '-', starting and"
                f" ending with a letter or digit, not {bucket_name!r}"
            )
        # Validates the dimension against the service's limit at synth. The digest below is
        # of this definition with the name as given, before any deploy-time suffix.
        definition = create_index_request(bucket_name, index_name, embedding_dimensions)
        if unique_per_stack:
            bucket_name = f"{bucket_name}-{stack_creation_suffix(Stack.of(self))}"
        self.bucket = s3vectors.CfnVectorBucket(
            self,
            "Bucket",
            vector_bucket_name=bucket_name,
            # S3-managed keys, as the OpenSearch collection's AWS-owned key: encrypted at rest
            # without a KMS key to pay for and write a policy for.
            encryption_configuration=s3vectors.CfnVectorBucket.EncryptionConfigurationProperty(
                sse_type="AES256"
            ),
        )
        self.bucket.apply_removal_policy(removal_policy)
        self.bucket_name = bucket_name
        self.index_name = index_name
        stack = Stack.of(self)
        self.index_arn = stack.format_arn(
            service="s3vectors",
            resource="bucket",
            resource_name=f"{bucket_name}/index/{index_name}",
        )
        self.environment: dict[str, str] = {
            "VECTOR_STORE": "s3vectors",
            "S3VECTORS_BUCKET": bucket_name,
            "S3VECTORS_INDEX": index_name,
            "BEDROCK_EMBEDDING_MODEL": embedding_model_id,
            "EMBEDDING_DIMENSIONS": str(embedding_dimensions),
        }
        self._external_writers: list[str] = []
        self.index = self._index_resource(
            definition, log_retention, retain=removal_policy == RemovalPolicy.RETAIN
        )
        self.bucket_policy: s3vectors.CfnVectorBucketPolicy | None = None

    def grant_read(self, role: iam.IRole) -> iam.Grant:
        """Let ``role`` query the index (and read the metadata a query returns)."""
        return iam.Grant.add_to_principal(
            grantee=role, actions=list(READ_ACTIONS), resource_arns=[self.index_arn]
        )

    def grant_write_to_principal_arn(self, principal_arn: str) -> None:
        """Write access on the index for a principal outside the stack, in the bucket policy
        (its IAM policy is its own administrator's to attach)."""
        if not PRINCIPAL_ARN.fullmatch(principal_arn):
            raise ValueError(f"not an IAM role or user ARN: {principal_arn!r}")
        if principal_arn in self._external_writers:
            return
        self._external_writers.append(principal_arn)
        statement = {
            "Sid": "ChatbotIngest",
            "Effect": "Allow",
            "Principal": {"AWS": self._external_writers},
            "Action": list(WRITE_ACTIONS),
            "Resource": self.index_arn,
        }
        document = {"Version": "2012-10-17", "Statement": [statement]}
        if self.bucket_policy is None:
            self.bucket_policy = s3vectors.CfnVectorBucketPolicy(
                self,
                "BucketPolicy",
                policy=document,
                vector_bucket_arn=self.bucket.attr_vector_bucket_arn,
            )
        else:
            self.bucket_policy.policy = document

    def _index_resource(
        self, definition: dict[str, object], log_retention: logs.RetentionDays, *, retain: bool
    ) -> CustomResource:
        setup = ChatbotFunction(
            self,
            "IndexSetup",
            handler="chatbot.handlers.vector_index.handler",
            bundle=FULL,
            description="Creates the chatbot's S3 Vectors index at deploy time",
            environment={},
            log_retention=log_retention,
            timeout=Duration.minutes(2),
        )
        setup.role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(SETUP_ACTIONS), resources=[self.index_arn])
        )
        provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        provider_role = iam.Role(
            self,
            "ProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Custom resource framework of the S3 Vectors index setup (least privilege)",
        )
        provider_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[provider_logs.log_group_arn],
            )
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=setup.function,
            framework_on_event_role=provider_role,
            log_group=provider_logs,
        )
        function_id = logical_id(setup.function.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            provider_role,
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "The CDK provider framework may invoke the setup function by any of its versions or"
            " aliases; the wildcard is a qualifier on that one function's ARN, not a wider"
            " resource",
        )
        digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]
        index = CustomResource(
            self,
            "Index",
            service_token=provider.service_token,
            resource_type="Custom::S3VectorsIndex",
            properties={
                "VectorBucketName": self.bucket_name,
                "IndexName": self.index_name,
                "Dimensions": definition["dimension"],
                # Any change of the index definition sends an Update (a new index).
                "DefinitionVersion": digest,
                "Retain": "true" if retain else "false",
            },
        )
        index.node.add_dependency(self.bucket)
        return index
