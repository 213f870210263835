"""DynamoDB adapter of the tables port, over a boto3 low-level client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chatbot.adapters import items as rules
from chatbot.adapters.aws.attribute_values import (
    AttributeMap,
    from_attribute_map,
    to_attribute_map,
)
from chatbot.adapters.aws.expressions import Expressions, group
from chatbot.clock import Clock
from chatbot.tables import (
    ANALYTICS,
    CONNECTIONS,
    CONVERSATIONS,
    LIMITS,
    SESSIONS,
    Condition,
    ConditionFailedError,
    Item,
    ItemTooLargeError,
    QueryPage,
    SortKeyCondition,
    Tables,
    TableSpec,
    evaluate,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        CreateTableInputTypeDef,
        DeleteItemInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        LocalSecondaryIndexTypeDef,
        PutItemInputTypeDef,
        QueryInputTypeDef,
        UpdateItemInputTypeDef,
    )


class DynamoDBTables:
    """The app's tables in DynamoDB; ``table_names`` maps each spec's name to its physical name."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_names: Mapping[str, str],
        *,
        clock: Clock,
    ) -> None:
        self._client = client
        self._table_names = dict(table_names)
        self._clock = clock

    def table(self, spec: TableSpec) -> DynamoDBTable:
        return DynamoDBTable(self._client, self._table_names[spec.name], spec, self._clock)

    def tables(self) -> Tables:
        return Tables(
            sessions=self.table(SESSIONS),
            connections=self.table(CONNECTIONS),
            conversations=self.table(CONVERSATIONS),
            analytics=self.table(ANALYTICS),
            limits=self.table(LIMITS),
        )

    def close(self) -> None:
        """Nothing to release: the boto3 client belongs to the caller."""
        return None


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Raise the port's exceptions for the client errors the port names."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ConditionalCheckFailedException":
            raise ConditionFailedError(message) from error
        if code == "ValidationException" and "maximum allowed size" in message:
            raise ItemTooLargeError(message) from error
        if code == "ValidationException":
            # The SQLite adapter raises ValueError for the same mistakes (adding to a string).
            raise ValueError(message) from error
        raise


class DynamoDBTable:
    """One logical table backed by one DynamoDB table."""

    def __init__(
        self,
        client: DynamoDBClient,
        physical_name: str,
        spec: TableSpec,
        clock: Clock,
    ) -> None:
        self._client = client
        self._name = physical_name
        self._spec = spec
        self._clock = clock

    @property
    def spec(self) -> TableSpec:
        return self._spec

    def _live(self, attributes: Mapping[str, Any] | None, now: float) -> Item | None:
        if not attributes:
            return None
        item = from_attribute_map(attributes)
        return None if rules.is_expired(self._spec, item, now) else item

    def _guarded(self, expressions: Expressions, condition: Condition, now: float) -> str:
        """``condition`` as text that treats an expired item as absent.

        DynamoDB deletes expired items lazily (up to days later), so the server may still
        hold one. Whether the condition holds on an absent item is known statically, so the
        expired case is folded into the expression instead of needing a read.
        """
        text = expressions.condition(condition)
        if self._spec.ttl_attribute is None:
            return text
        expired = expressions.expired(self._spec.ttl_attribute, now)
        if evaluate(condition, None):
            return f"{group(text)} OR {group(expired)}"
        return f"{group(text)} AND NOT {group(expired)}"

    def get(self, key: Mapping[str, Any]) -> Item | None:
        table_key = rules.check_key(self._spec, key)
        response = self._client.get_item(
            TableName=self._name, Key=to_attribute_map(table_key), ConsistentRead=True
        )
        return self._live(response.get("Item"), self._clock.time())

    def put(self, item: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        new_item: Item = rules.normalize(item)
        rules.check_item(self._spec, new_item)
        request: PutItemInputTypeDef = {"TableName": self._name, "Item": to_attribute_map(new_item)}
        if condition is not None:
            expressions = Expressions(self._spec.partition_key)
            request["ConditionExpression"] = self._guarded(
                expressions, condition, self._clock.time()
            )
            _attach(request, expressions)
        with _translated_errors():
            self._client.put_item(**request)

    def update(
        self,
        key: Mapping[str, Any],
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        increment: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> Item:
        table_key, new_values, removed, deltas = rules.prepare_update(
            self._spec, key, set_values, remove, increment
        )
        # The result holds at least the key and the set values; refuse early what surely fails.
        rules.check_size({**table_key, **new_values})
        changes = (new_values, removed, deltas)
        # DynamoDB would merge an update into an expired item it still holds, resurrecting its
        # stale attributes. So the update requires the item to be live or absent; if it fails
        # on an expired item, that item counts as absent and one more update replaces it.
        with _translated_errors():
            now = self._clock.time()
            try:
                return self._send_update(table_key, changes, condition, now)
            except ClientError as error:
                stale = self._expired_item_in(error, now)
                if stale is None:
                    raise
            if condition is not None and not evaluate(condition, None):
                raise ConditionFailedError(f"update on {self._spec.name}: no live item")
            try:
                return self._replace_expired(table_key, changes, stale, now)
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise
            # Rewritten or removed meanwhile: the ordinary update's guards decide.
            return self._send_update(table_key, changes, condition, self._clock.time())

    def _replace_expired(
        self, table_key: Item, changes: tuple[Item, list[str], Item], stale: Item, now: float
    ) -> Item:
        """The update as if ``stale`` (expired, still held) were absent, in one UpdateItem: its
        other attributes removed and increments starting from nothing. Conditional on it being
        that same expired item, so no DeleteItem (and no right to it) is needed."""
        new_values, _, deltas = changes
        ttl = self._spec.ttl_attribute
        assert ttl is not None
        expressions = Expressions(self._spec.partition_key)
        assigned = {**new_values, **deltas}
        clauses = (
            [
                "SET "
                + ", ".join(
                    f"{expressions.name(a)} = {expressions.value(v)}" for a, v in assigned.items()
                )
            ]
            if assigned
            else []
        )
        dropped = [a for a in stale if a not in table_key and a not in assigned]
        if dropped:
            clauses.append("REMOVE " + ", ".join(expressions.name(a) for a in dropped))
        same = f"{expressions.name(ttl)} = {expressions.value(stale[ttl])}"
        request: UpdateItemInputTypeDef = {
            "TableName": self._name,
            "Key": to_attribute_map(table_key),
            "ReturnValues": "ALL_NEW",
            "UpdateExpression": " ".join(clauses),
            "ConditionExpression": f"{same} AND {group(expressions.expired(ttl, now))}",
        }
        _attach(request, expressions)
        response = self._client.update_item(**request)
        return from_attribute_map(response.get("Attributes", {}))

    def _send_update(
        self,
        table_key: Item,
        changes: tuple[Item, list[str], Item],
        condition: Condition | None,
        now: float,
    ) -> Item:
        request = self._update_request(table_key, *changes, condition, now)
        response = self._client.update_item(**request)
        return from_attribute_map(response.get("Attributes", {}))

    def _update_request(
        self,
        table_key: Item,
        new_values: Item,
        removed: list[str],
        deltas: Item,
        condition: Condition | None,
        now: float,
    ) -> UpdateItemInputTypeDef:
        expressions = Expressions(self._spec.partition_key)
        clauses = []
        if new_values:
            assignments = (
                f"{expressions.name(a)} = {expressions.value(v)}" for a, v in new_values.items()
            )
            clauses.append("SET " + ", ".join(assignments))
        if removed:
            clauses.append("REMOVE " + ", ".join(expressions.name(a) for a in removed))
        if deltas:
            additions = (f"{expressions.name(a)} {expressions.value(v)}" for a, v in deltas.items())
            clauses.append("ADD " + ", ".join(additions))
        guards = [] if condition is None else [expressions.condition(condition)]
        ttl = self._spec.ttl_attribute
        if ttl is not None:
            absent = f"attribute_not_exists({expressions.name(self._spec.partition_key)})"
            guards.append(f"{absent} OR NOT {group(expressions.expired(ttl, now))}")
        request: UpdateItemInputTypeDef = {
            "TableName": self._name,
            "Key": to_attribute_map(table_key),
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if clauses:
            request["UpdateExpression"] = " ".join(clauses)
        if guards:
            request["ConditionExpression"] = " AND ".join(group(guard) for guard in guards)
        _attach(request, expressions)
        return request

    def _expired_item_in(self, error: ClientError, now: float) -> Item | None:
        """The expired item a conditional write failed on (the error returns it), if it was."""
        if _code(error) != "ConditionalCheckFailedException":
            return None
        found = error.response.get("Item")
        if not isinstance(found, dict) or not found:
            return None
        item = from_attribute_map(found)
        return item if rules.is_expired(self._spec, item, now) else None

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> Item | None:
        table_key = rules.check_key(self._spec, key)
        now = self._clock.time()
        request: DeleteItemInputTypeDef = {
            "TableName": self._name,
            "Key": to_attribute_map(table_key),
            "ReturnValues": "ALL_OLD",
        }
        if condition is not None:
            expressions = Expressions(self._spec.partition_key)
            request["ConditionExpression"] = self._guarded(expressions, condition, now)
            _attach(request, expressions)
        with _translated_errors():
            response = self._client.delete_item(**request)
        return self._live(response.get("Attributes"), now)

    def query(
        self,
        partition_value: str,
        *,
        index: str | None = None,
        sort: SortKeyCondition | None = None,
        ascending: bool = True,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> QueryPage:
        rules.check_limit(limit)
        if rules.is_reversed_range(sort):
            return QueryPage(items=[], cursor=None)
        index_spec = None if index is None else self._spec.index(index)
        now = self._clock.time()
        expressions = Expressions(self._spec.partition_key)
        partition_key = self._spec.partition_key if index_spec is None else index_spec.partition_key
        request: QueryInputTypeDef = {
            "TableName": self._name,
            "KeyConditionExpression": expressions.key_condition(
                partition_key,
                partition_value,
                rules.sort_attribute(self._spec, index_spec),
                sort,
            ),
            "ScanIndexForward": ascending,
            # Global indexes are eventually consistent only; DynamoDB rejects the flag there.
            "ConsistentRead": index_spec is None or index_spec.local,
        }
        if index_spec is not None:
            request["IndexName"] = index_spec.name
        if self._spec.ttl_attribute is not None:
            # Expired items still cost a read, but are not sent back.
            request["FilterExpression"] = (
                f"NOT {group(expressions.expired(self._spec.ttl_attribute, now))}"
            )
        _attach(request, expressions)
        if cursor is not None:
            position = rules.decode_cursor(cursor, self._spec, index_spec, partition_value)
            request["ExclusiveStartKey"] = to_attribute_map(position)
        found: list[Item] = []
        while True:
            if limit is not None:
                # One item more than the page needs says whether a next page exists. Limit
                # counts items read before the TTL filter, so a page may take several reads.
                request["Limit"] = limit - len(found) + 1
            response = self._client.query(**request)
            for attributes in response.get("Items", []):
                item = self._live(attributes, now)
                if item is not None:
                    found.append(item)
            if limit is not None and len(found) > limit:
                page = found[:limit]
                last = rules.position_of(self._spec, index_spec, page[-1])
                return QueryPage(items=page, cursor=rules.encode_cursor(last))
            last_key: AttributeMap | None = response.get("LastEvaluatedKey")
            if not last_key:
                return QueryPage(items=found, cursor=None)
            request["ExclusiveStartKey"] = last_key


def create_table(client: DynamoDBClient, spec: TableSpec, physical_name: str) -> None:
    """Create the table ``spec`` describes (on-demand, TTL on), and wait until it is active."""
    key_attributes = [spec.partition_key, *([spec.sort_key] if spec.sort_key else [])]
    key_attributes += sorted(rules.index_attributes(spec) - set(key_attributes))
    request: CreateTableInputTypeDef = {
        "TableName": physical_name,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in key_attributes
        ],
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
    }
    global_indexes: list[GlobalSecondaryIndexTypeDef] = [
        {
            "IndexName": index.name,
            "KeySchema": _key_schema(index.partition_key, index.sort_key),
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in spec.indexes
        if not index.local
    ]
    local_indexes: list[LocalSecondaryIndexTypeDef] = [
        {
            "IndexName": index.name,
            "KeySchema": _key_schema(index.partition_key, index.sort_key),
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in spec.indexes
        if index.local
    ]
    if global_indexes:
        request["GlobalSecondaryIndexes"] = global_indexes
    if local_indexes:
        request["LocalSecondaryIndexes"] = local_indexes
    client.create_table(**request)
    client.get_waiter("table_exists").wait(
        TableName=physical_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    if spec.ttl_attribute is not None:
        client.update_time_to_live(
            TableName=physical_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )


def _key_schema(partition_key: str, sort_key: str | None) -> list[KeySchemaElementTypeDef]:
    schema: list[KeySchemaElementTypeDef] = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key is not None:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _attach(
    request: PutItemInputTypeDef
    | UpdateItemInputTypeDef
    | DeleteItemInputTypeDef
    | QueryInputTypeDef,
    expressions: Expressions,
) -> None:
    # DynamoDB rejects empty placeholder maps, and any placeholder the expressions do not use.
    if expressions.names:
        request["ExpressionAttributeNames"] = expressions.names
    if expressions.values:
        request["ExpressionAttributeValues"] = expressions.values
