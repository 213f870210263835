"""The DynamoDB tables, derived from the runtime's table specs (chatbot.tables): one definition."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from chatbot.tables import ALL_TABLES, TableSpec

_STRING = dynamodb.AttributeType.STRING


class ChatbotTables(Construct):
    """On-demand tables with point-in-time recovery, TTL and the indexes the runtime queries."""

    def __init__(self, scope: Construct, construct_id: str, *, retain: bool) -> None:
        super().__init__(scope, construct_id)
        self._specs = {spec.name: spec for spec in ALL_TABLES}
        self.tables: dict[str, dynamodb.TableV2] = {
            spec.name: self._table(spec, retain) for spec in ALL_TABLES
        }

    def _table(self, spec: TableSpec, retain: bool) -> dynamodb.TableV2:
        return dynamodb.TableV2(
            self,
            spec.name.title(),
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=_STRING),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=_STRING)
            if spec.sort_key
            else None,
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.dynamo_owned_key(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.partition_key, type=_STRING),
                    sort_key=dynamodb.Attribute(name=index.sort_key, type=_STRING)
                    if index.sort_key
                    else None,
                    projection_type=dynamodb.ProjectionType.ALL,
                )
                for index in spec.indexes
                if not index.local
            ]
            or None,
            local_secondary_indexes=[
                dynamodb.LocalSecondaryIndexProps(
                    index_name=index.name,
                    sort_key=dynamodb.Attribute(name=index.sort_key, type=_STRING),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
                for index in spec.indexes
                if index.local and index.sort_key
            ]
            or None,
            deletion_protection=retain,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )

    def name(self, table: str) -> str:
        return self.tables[table].table_name

    def grant(
        self,
        grantee: iam.IGrantable,
        table: str,
        actions: Sequence[str],
        *,
        indexes: Sequence[str] = (),
    ) -> None:
        """Exactly these actions on the table and on the named indexes: no wildcard resources."""
        target = self.tables[table]
        known = {index.name for index in self._specs[table].indexes}
        unknown = set(indexes) - known
        if unknown:
            raise ValueError(f"table {table} has no index {sorted(unknown)}")
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[f"dynamodb:{action}" for action in actions],
            resource_arns=[
                target.table_arn,
                *(f"{target.table_arn}/index/{index}" for index in indexes),
            ],
        )
