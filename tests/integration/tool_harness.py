"""The tool tests' harness: records tables (SQLite, moto) with snapshots, a corpus, call helpers."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator

from chatbot.adapters.aws.attribute_values import from_attribute_map
from chatbot.adapters.aws.tables import DynamoDBTables, create_table
from chatbot.adapters.local.documents import ChunkToIndex, SQLiteDocumentIndex
from chatbot.adapters.local.tables import SQLiteTables
from chatbot.tables import RECORDS, Item, Table
from chatbot.tools.catalog import ToolCatalog
from chatbot.tools.errors import ToolError
from chatbot.tools.executor import ToolExecutor
from tests.conftest import FakeClock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class StepClock:
    """A clock for the executor that moves one second every time it is read."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment

    def time(self) -> float:
        return self.now().timestamp()

    def monotonic(self) -> float:
        return self.time()


@dataclass
class RecordStore:
    """The records table through the port, and what the backend holds, read around the port."""

    name: str
    table: Table
    # Every item the backend holds, in (owner, id) order.
    snapshot: Callable[[], list[Item]]


def sqlite_store(path: Path) -> Iterator[RecordStore]:
    adapter = SQLiteTables(path, clock=FakeClock())
    raw = sqlite3.connect(path)

    def snapshot() -> list[Item]:
        rows = raw.execute('SELECT body FROM "t_records" ORDER BY pk, sk').fetchall()
        return [json.loads(body) for (body,) in rows]

    yield RecordStore("sqlite", adapter.table(RECORDS), snapshot)
    raw.close()
    adapter.close()


_table_names = itertools.count()


def dynamodb_store(client: DynamoDBClient) -> Iterator[RecordStore]:
    # The moto client is shared by a module; a fresh table name isolates each test.
    name = f"records-{next(_table_names)}"
    create_table(client, RECORDS, name)

    def snapshot() -> list[Item]:
        items: list[Item] = []
        request: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
        while True:
            page = client.scan(**request)
            items.extend(from_attribute_map(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda item: (item["owner"], item["id"]))

    yield RecordStore(
        "dynamodb",
        DynamoDBTables(client, {"records": name}, clock=FakeClock()).table(RECORDS),
        snapshot,
    )
    client.delete_table(TableName=name)


# A small corpus: each query in the search tests has exactly one best chunk here.
CHUNKS = (
    ChunkToIndex(
        id="refunds-0",
        document_id="refunds",
        source="policies/refunds.md",
        title="Refund policy",
        position=0,
        content="Customers may return any item within 30 days for a full refund.",
    ),
    ChunkToIndex(
        id="shipping-0",
        document_id="shipping",
        source="policies/shipping.md",
        title="Shipping",
        position=0,
        content="Orders ship within two business days. Express delivery costs extra.",
    ),
    ChunkToIndex(
        id="security-0",
        document_id="security",
        source="handbook/security.md",
        title="Security handbook",
        position=0,
        content="Rotate access keys every 90 days and never share passwords.",
    ),
    ChunkToIndex(
        id="security-1",
        document_id="security",
        source="handbook/security.md",
        title="Security handbook",
        position=1,
        content="Report a lost laptop to the security team within one hour.",
    ),
)


def seeded_index() -> SQLiteDocumentIndex:
    index = SQLiteDocumentIndex(":memory:")
    index.add_chunks(CHUNKS)
    return index


OWNER_A = "session-a"


def call(executor: ToolExecutor, name: str, owner: str = OWNER_A, **arguments: Any) -> Any:
    """Call a tool that must succeed; its result must match the tool's output schema."""
    result = executor.call(name, arguments, owner=owner)
    Draft202012Validator(ToolCatalog.load().definition(name).output_schema).validate(result)
    return result


def refusal(executor: ToolExecutor, name: str, owner: str = OWNER_A, **arguments: Any) -> str:
    """Call a tool that must be refused; return the error code."""
    with pytest.raises(ToolError) as refused:
        executor.call(name, arguments, owner=owner)
    assert refused.value.as_result()["success"] is False
    return refused.value.code
