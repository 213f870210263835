"""Tool errors: a stable code and a message safe to show the model or a person."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ToolErrorCode(StrEnum):
    UNKNOWN_TOOL = "UNKNOWN_TOOL"
    INVALID_INPUT = "INVALID_INPUT"
    TABLE_NOT_ALLOWED = "TABLE_NOT_ALLOWED"
    UNKNOWN_TABLE = "UNKNOWN_TABLE"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    TOO_LARGE = "TOO_LARGE"
    SEARCH_UNAVAILABLE = "SEARCH_UNAVAILABLE"
    # Raised by the MCP server around the executor, not by it: a call whose owner could not
    # be verified (chatbot.tools.owner_claim), and a failure the server logs and hides.
    OWNER_INVALID = "OWNER_INVALID"
    INTERNAL = "INTERNAL"


class ToolError(Exception):
    """A tool call refused or failed in a way the caller can act on.

    ``message`` is shown to the model as the tool's result, so it never carries internal
    table names, other sessions' data, stack traces or long echoes of the input.
    """

    def __init__(self, code: ToolErrorCode | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message

    def as_result(self) -> dict[str, Any]:
        """The error as a tool result: ``{"success": False, "error": {"code", "message"}}``."""
        return {"success": False, "error": {"code": self.code, "message": self.message}}
