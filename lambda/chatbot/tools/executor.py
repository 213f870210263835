"""The tool executor: validates a call, checks its table against the allowlist, then acts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from aws_lambda_powertools import Logger

from chatbot.clock import Clock
from chatbot.documents import DocumentSearch
from chatbot.tables import RECORDS, Table
from chatbot.tools.catalog import ToolCatalog
from chatbot.tools.errors import ToolError, ToolErrorCode
from chatbot.tools.records import SessionRecords

logger = Logger(service="chatbot", child=True)

Access = Literal["read", "write"]

SEARCH_TOOL: Final = "search_documents"
# Each record tool and the permission it needs on the table it names.
RECORD_TOOLS: Final[dict[str, Access]] = {
    "create_record": "write",
    "read_record": "read",
    "update_record": "write",
    "delete_record": "write",
    "list_records": "read",
}


class ToolExecutor:
    """Runs the catalog's tools for one calling session at a time (the ``owner`` of a call).

    Every call is validated against the catalog before anything is read or written; a refused
    call raises ToolError and touches nothing.
    """

    def __init__(
        self,
        catalog: ToolCatalog,
        records: Table,
        documents: DocumentSearch,
        *,
        clock: Clock,
    ) -> None:
        implemented = {SEARCH_TOOL, *RECORD_TOOLS}
        missing = [d.name for d in catalog.definitions if d.name not in implemented]
        if missing:
            raise ValueError(f"the catalog names tools with no implementation: {missing}")
        permissions = catalog.table_permissions
        # Only the records table is wired in; a catalog granting more would promise tables
        # that calls could never reach.
        granted = {table for table, allowed in permissions.items() if any(allowed.values())}
        if not granted <= {RECORDS.name}:
            raise ValueError(f"the catalog grants tables this executor cannot serve: {granted}")
        self._catalog = catalog
        self._permissions = permissions
        self._records = SessionRecords(records, clock=clock)
        self._documents = documents

    def call(self, name: str, arguments: Mapping[str, Any], *, owner: str) -> dict[str, Any]:
        """Run tool ``name`` for the session ``owner``; the result is the tool's JSON object.

        Raises ToolError (UNKNOWN_TOOL, INVALID_INPUT, UNKNOWN_TABLE, TABLE_NOT_ALLOWED,
        NOT_FOUND, ALREADY_EXISTS, TOO_LARGE, SEARCH_UNAVAILABLE) with a message safe to show.
        """
        if not isinstance(owner, str) or not owner:
            # The server must always say whose call this is; no argument can stand in for it.
            raise ValueError("a tool call needs the calling session as its owner")
        valid = self._catalog.validate(name, arguments)
        if name == SEARCH_TOOL:
            return self._search(valid["query"], int(valid["limit"]))
        self._check_table(valid["table"], RECORD_TOOLS[name])
        if name == "create_record":
            return self._records.create(owner, valid["data"], valid.get("record_id"))
        if name == "read_record":
            return self._records.read(owner, valid["record_id"])
        if name == "update_record":
            return self._records.update(owner, valid["record_id"], valid["data"])
        if name == "delete_record":
            return self._records.delete(owner, valid["record_id"])
        return self._records.list(owner, int(valid["limit"]), valid.get("cursor"))

    def _check_table(self, table: str, access: Access) -> None:
        allowed = self._permissions.get(table)
        usable = sorted(name for name, grants in self._permissions.items() if grants[access])
        if allowed is None:
            raise ToolError(
                ToolErrorCode.UNKNOWN_TABLE,
                f"Unknown table. Tools can use these tables: {', '.join(usable)}.",
            )
        if not allowed[access]:
            raise ToolError(
                ToolErrorCode.TABLE_NOT_ALLOWED,
                f"That table is not available to tools. Use one of: {', '.join(usable)}.",
            )

    def _search(self, query: str, limit: int) -> dict[str, Any]:
        try:
            chunks = self._documents.search(query.strip(), limit=limit)
        except ToolError:
            # A backend may refuse with a message of its own (say, search not configured).
            raise
        except Exception:
            # The port names no error type: whatever the backend raised (index down, access
            # denied), the model can only be told search is unavailable; the log keeps why.
            logger.exception("document search failed")
            raise ToolError(
                ToolErrorCode.SEARCH_UNAVAILABLE,
                "Document search is unavailable right now; try again later.",
            ) from None
        results = [
            {"id": chunk.id, "content": chunk.content, "source": chunk.source, "score": chunk.score}
            for chunk in chunks[:limit]
        ]
        return {"success": True, "results": results}
