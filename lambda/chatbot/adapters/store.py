"""The tables' adapter that configuration selects: DynamoDB in AWS, the SQLite file locally.

Every entry point that opens tables (the runtime, the MCP server, `chatbot analytics`) comes
here, so that choosing and opening them is written once.
"""

from __future__ import annotations

from typing import Protocol

from chatbot.clock import Clock
from chatbot.config import Environment, Settings
from chatbot.tables import Table, Tables, TableSpec


class TableStore(Protocol):
    def table(self, spec: TableSpec) -> Table: ...

    def tables(self) -> Tables: ...

    def close(self) -> None: ...


def table_store(settings: Settings, clock: Clock, *, checkpoints: bool = True) -> TableStore:
    """DynamoDB (the tables SESSIONS_TABLE and the others name) with CHATBOT_ENV=aws; else
    the SQLite file in the state folder, which is made (or set) first to be readable by its
    owner only, 0700, whoever made it (it holds chat history, and the session-token key).
    ``checkpoints=False``: this process's SQLite commits leave checkpointing the WAL to others."""
    # Adapters are imported here so a process loads only the one it uses.
    if settings.chatbot_env is Environment.AWS:
        from chatbot.adapters.aws.dynamodb_client import dynamodb_client
        from chatbot.adapters.aws.tables import DynamoDBTables

        client = dynamodb_client(settings.aws_region, max_attempts=settings.dynamodb_max_attempts)
        return DynamoDBTables(client, settings.table_names, clock=clock)
    from chatbot.adapters.local.private_files import private_directory
    from chatbot.adapters.local.tables import SQLiteTables

    private_directory(settings.state_dir)
    return SQLiteTables(settings.sqlite_path, clock=clock, checkpoints=checkpoints)
