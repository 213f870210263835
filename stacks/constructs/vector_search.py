"""OpenSearch Serverless vector search: the collection, its three policies and its k-NN index."""

from __future__ import annotations

import re
from typing import Any, Final, cast

import jsii
from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CustomResource,
    Duration,
    Fn,
    IStableStringProducer,
    Lazy,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchserverless as aoss
from aws_cdk import custom_resources as cr
from constructs import Construct

from chatbot.search_index import mapping_version
from stacks.bundling import FULL
from stacks.constructs.function import ChatbotFunction

# Collection and policy names share one rule; policies are capped at 32 characters, and each
# policy here is named after its collection, so the collection name must fit that cap too.
_NAME: Final = re.compile(r"[a-z][a-z0-9-]{2,31}")
# OpenSearch index names: lower case, no path or wildcard characters, not starting with -_+.
_INDEX_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,254}")
# An IAM role or user (paths allowed) of any partition: what a data access policy accepts.
PRINCIPAL_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+")
# The k-NN plugin's limit on a knn_vector's dimension.
_MAX_DIMENSIONS: Final = 16_000

READ_PERMISSIONS: Final = ("aoss:ReadDocument", "aoss:DescribeIndex")
WRITE_PERMISSIONS: Final = (*READ_PERMISSIONS, "aoss:WriteDocument")
# The setup function looks at the mapping (DescribeIndex), creates the index (CreateIndex) and
# adds fields a newer definition introduced (UpdateIndex). It never touches documents, and
# nothing here needs collection-level items (templates, aliases, pipelines), so no principal
# gets aoss:DescribeCollectionItems or any other collection permission.
SETUP_PERMISSIONS: Final = ("aoss:DescribeIndex", "aoss:CreateIndex", "aoss:UpdateIndex")


@jsii.implements(IStableStringProducer)
class _DataAccessPolicyDocument:
    """Renders the data access policy at synthesis, after every grant has been made."""

    def __init__(self, owner: VectorSearch) -> None:
        self.owner = owner

    def produce(self) -> str | None:
        return self.owner.render_data_access_policy()


class VectorSearch(Construct):
    """A VECTORSEARCH collection reachable only by the roles granted on it, with its index.

    The index is created at deploy time by a custom resource from the one definition in
    ``chatbot.search_index``, so the runtime never has to create it (nor hold the right to).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        collection_name: str,
        index_name: str,
        embedding_model_id: str,
        embedding_dimensions: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        standby_replicas: bool = False,
        unique_per_stack: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        # With unique_per_stack, "-" and 8 hex digits of the stack's id follow the name.
        checked = collection_name + ("-0a1b2c3d" if unique_per_stack else "")
        if not _NAME.fullmatch(checked):
            limit = 32 - (len(checked) - len(collection_name))
            raise ValueError(
                f"collection_name must be 3-{limit} characters of a-z, 0-9 and '-', starting"
                f" with a letter, not {collection_name!r}"
            )
        if unique_per_stack:
            collection_name = f"{collection_name}-{stack_creation_suffix(Stack.of(self))}"
        if not _INDEX_NAME.fullmatch(index_name):
            raise ValueError(f"index_name is not a valid OpenSearch index name: {index_name!r}")
        if not 1 <= embedding_dimensions <= _MAX_DIMENSIONS:
            raise ValueError(f"embedding_dimensions must be 1-{_MAX_DIMENSIONS}")
        self.collection_name = collection_name
        self.index_name = index_name
        self._readers: list[iam.IRole] = []
        self._writers: list[iam.IRole] = []
        self._setup_roles: list[iam.IRole] = []
        # Writers from outside the stack (operators running the ingestion), by ARN.
        self._external_writers: list[str] = []
        self._api_access: set[str] = set()
        collection_resource = [f"collection/{collection_name}"]

        # An AWS-owned key: data is still encrypted at rest, without a KMS key to pay for,
        # rotate and write a key policy for; a customer key earns its cost only where key
        # level audit or revocation is required.
        self.encryption_policy = aoss.CfnSecurityPolicy(
            self,
            "EncryptionPolicy",
            name=collection_name,
            type="encryption",
            description="Encrypts the chatbot's vector collection with an AWS-owned key",
            policy=Stack.of(self).to_json_string(
                {
                    "Rules": [{"ResourceType": "collection", "Resource": collection_resource}],
                    "AWSOwnedKey": True,
                }
            ),
        )
        # A public endpoint for the collection only (no Dashboards rule: no Dashboards
        # access). The Lambda functions are not in a VPC, and a VPC would cost NAT gateways or
        # interface endpoints for every AWS service they call; every request is still SigV4
        # signed and authorised by IAM and by the data access policy below.
        self.network_policy = aoss.CfnSecurityPolicy(
            self,
            "NetworkPolicy",
            name=collection_name,
            type="network",
            description="The vector collection's API is reachable over its public endpoint",
            policy=Stack.of(self).to_json_string(
                [
                    {
                        "Rules": [{"ResourceType": "collection", "Resource": collection_resource}],
                        "AllowFromPublic": True,
                    }
                ]
            ),
        )
        self.collection = aoss.CfnCollection(
            self,
            "Collection",
            name=collection_name,
            type="VECTORSEARCH",
            description="Chunks of the chatbot's documents, with their embeddings",
            # Standby replicas keep a copy in a second Availability Zone and double the
            # always-on minimum capacity; off by default so a dev stack costs half as much
            # while idle. Production stacks should turn them on (fixed at creation).
            standby_replicas="ENABLED" if standby_replicas else "DISABLED",
        )
        # A collection can only be created once an encryption policy covers its name.
        self.collection.add_resource_dependency(self.encryption_policy)
        self.collection.add_resource_dependency(self.network_policy)
        # Its key binding stays with a retained collection; network and data access go with
        # the stack, so nothing keeps access to a collection the stack no longer manages.
        self.collection.apply_removal_policy(removal_policy)
        self.encryption_policy.apply_removal_policy(removal_policy)

        self.data_access_policy = aoss.CfnAccessPolicy(
            self,
            "DataAccessPolicy",
            name=collection_name,
            type="data",
            description="Index permissions of the chatbot roles granted on the collection",
            policy=Lazy.string(_DataAccessPolicyDocument(self)),
        )

        self.endpoint: str = self.collection.attr_collection_endpoint
        self.collection_arn: str = self.collection.attr_arn
        # What every function that embeds or searches must agree on: one source, here.
        self.environment: dict[str, str] = {
            "OPENSEARCH_ENDPOINT": self.endpoint,
            "OPENSEARCH_INDEX": index_name,
            "OPENSEARCH_REGION": Stack.of(self).region,
            "BEDROCK_EMBEDDING_MODEL": embedding_model_id,
            "EMBEDDING_DIMENSIONS": str(embedding_dimensions),
        }
        self.index = self._index_resource(embedding_dimensions, log_retention)

    def grant_read(self, role: iam.IRole) -> iam.Grant:
        """Let ``role`` search the collection's indexes (k-NN and keyword)."""
        if role not in self._readers:
            self._readers.append(role)
        return self._grant_api_access(role)

    def grant_write(self, role: iam.IRole) -> iam.Grant:
        """Let ``role`` search, add, replace and delete documents in the collection's indexes."""
        if role not in self._writers:
            self._writers.append(role)
        return self._grant_api_access(role)

    def grant_write_to_principal_arn(self, principal_arn: str) -> None:
        """Give an IAM role or user from outside the stack write access in the data access
        policy only: its IAM policy (``aoss:APIAccessAll`` on ``collection_arn``) is not the
        stack's to change, so its own administrator must attach that half."""
        if not PRINCIPAL_ARN.fullmatch(principal_arn):
            raise ValueError(f"not an IAM role or user ARN: {principal_arn!r}")
        if principal_arn not in self._external_writers:
            self._external_writers.append(principal_arn)

    def render_data_access_policy(self) -> str:
        """The data access policy's JSON: one statement per kind of access granted."""
        index_resource = [f"index/{self.collection_name}/*"]
        writers = list(self._writers)
        # A role granted both gets the write statement only, which includes reading.
        readers = [role for role in self._readers if role not in writers]
        statements: list[dict[str, Any]] = []
        for kind, roles, permissions in (
            ("read", [role.role_arn for role in readers], READ_PERMISSIONS),
            (
                "write",
                [*(role.role_arn for role in writers), *self._external_writers],
                WRITE_PERMISSIONS,
            ),
            ("setup", [role.role_arn for role in self._setup_roles], SETUP_PERMISSIONS),
        ):
            if not roles:
                continue
            statements.append(
                {
                    "Description": f"chatbot {kind} access",
                    # Every index of this collection, which holds only this app's indexes: a
                    # re-index into a new index name needs no policy change.
                    "Rules": [
                        {
                            "ResourceType": "index",
                            "Resource": index_resource,
                            "Permission": list(permissions),
                        }
                    ],
                    "Principal": roles,
                }
            )
        return Stack.of(self).to_json_string(statements)

    def _grant_api_access(self, role: iam.IRole) -> iam.Grant:
        # The IAM half of AOSS authorisation: the right to call this collection's data plane
        # at all; what the caller may do there is the data access policy's half.
        key = role.node.path
        if key in self._api_access:
            return iam.Grant.drop(grantee=role, _intent="already granted")
        self._api_access.add(key)
        return iam.Grant.add_to_principal(
            grantee=role, actions=["aoss:APIAccessAll"], resource_arns=[self.collection_arn]
        )

    def _index_resource(self, dimensions: int, log_retention: logs.RetentionDays) -> CustomResource:
        setup = ChatbotFunction(
            self,
            "IndexSetup",
            handler="chatbot.handlers.search_index.handler",
            bundle=FULL,
            description="Creates the chatbot's OpenSearch k-NN index at deploy time",
            environment=self.environment,
            log_retention=log_retention,
            # Up to five minutes waiting for the data access policy to take effect, plus
            # the requests themselves and the margin the handler keeps to report a failure.
            timeout=Duration.minutes(6),
        )
        self._setup_roles.append(setup.role)
        self._grant_api_access(setup.role)

        # The framework function gets a role and log group of our own instead of the
        # AWSLambdaBasicExecutionRole managed policy and a never-expiring log group.
        provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        provider_role = iam.Role(
            self,
            "ProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Custom resource framework of the k-NN index setup (least privilege)",
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
        Validations.of(provider_role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{self._logical_id(setup.function)}.Arn>:*]",
                reason=(
                    "The CDK provider framework may invoke the setup function by any of its "
                    "versions or aliases; the wildcard is a qualifier on that one function's "
                    "ARN, not a wider resource"
                ),
            )
        )

        index = CustomResource(
            self,
            "Index",
            service_token=provider.service_token,
            resource_type="Custom::OpenSearchIndex",
            properties={
                "IndexName": self.index_name,
                # A new collection (another name) sends an Update too, which creates the index.
                "Collection": self.collection_name,
                "Dimensions": dimensions,
                # A digest of the index definition: any mapping change sends an Update.
                "MappingVersion": mapping_version(dimensions),
            },
        )
        # The index can only be created in an active collection, by a role the data access
        # policy already names.
        index.node.add_dependency(self.collection, self.data_access_policy)
        return index

    @staticmethod
    def _logical_id(construct: Construct) -> str:
        # cdk-nag names a GetAtt in a finding by the target's logical id.
        return Stack.of(construct).get_logical_id(cast(CfnElement, construct.node.default_child))


def stack_creation_suffix(stack: Stack) -> str:
    """8 hex digits of the stack's id: fixed for the stack's life, new for each creation.

    The stack id (arn:...:stack/NAME/UUID) changes when a stack is destroyed and deployed
    again, so a collection and encryption policy retained by a destroy never hold the names
    the next deployment of the same stage asks for.
    """
    uuid = Fn.select(2, Fn.split("/", stack.stack_id))
    return Fn.select(0, Fn.split("-", uuid))
