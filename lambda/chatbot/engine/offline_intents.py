"""What the offline model understands on the tools path: plain requests to tool calls, and
tool results back to sentences. A real model does both far better; this keeps the tools path
usable, and testable end to end, with no model service."""

from __future__ import annotations

import json
import re
from typing import Any

_ID = r"(?P<id>[A-Za-z0-9_-]{1,64})"
_RECORD = r"(?:the\s+)?(?:record|note|entry|item|task)\s+(?:id\s+)?"
_INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "update_record",
        re.compile(
            rf"\b(?:update|change|set|edit|rename)\s+{_RECORD}{_ID}\s*[:,]?\s+(?:set\s+)?"
            r"(?:its\s+)?(?P<field>[A-Za-z_][\w-]{0,63})\s+(?:to|=|as)\s+(?P<value>.+?)\s*$",
            re.IGNORECASE,
        ),
    ),
    (
        "list_records",
        re.compile(
            r"\b(?:list|show|display)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?(?:my\s+)?"
            r"(?:records|notes|entries|items|tasks)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "read_record",
        re.compile(
            rf"\b(?:show|read|get|open|display|fetch)\s+(?:me\s+)?{_RECORD}{_ID}\b", re.IGNORECASE
        ),
    ),
    (
        "delete_record",
        re.compile(rf"\b(?:delete|remove|erase|drop)\s+{_RECORD}{_ID}\b", re.IGNORECASE),
    ),
    (
        "create_record",
        re.compile(
            r"\b(?:create|add|make|new|save)\b.*?\b(?:record|note|entry|item|task)\b"
            r"(?:\s+(?:titled|called|named|with\s+(?:the\s+)?title|about))?\s*[:\"“']?\s*"
            r"(?P<title>.+?)[\"”']?\s*[.!]?\s*$",
            re.IGNORECASE,
        ),
    ),
    (
        "search_documents",
        re.compile(
            r"\b(?:search|look\s+up|find)\b\s+(?:in\s+|through\s+)?(?:the\s+|my\s+)?"
            r"(?:documents?|docs|documentation|knowledge\s+base)\s+(?:for|about|on)\s+"
            r"[\"“']?(?P<query>.+?)[\"”']?\s*[.?!]?\s*$",
            re.IGNORECASE,
        ),
    ),
)


def tool_request(text: str, available: set[str]) -> tuple[str, dict[str, Any]] | None:
    """The tool call a plainly phrased request asks for, if any tool offered fits it."""
    for tool, pattern in _INTENTS:
        match = pattern.search(text)
        if match is None or tool not in available:
            continue
        found = match.groupdict()
        if tool == "create_record":
            return tool, {"table": "records", "data": {"title": found["title"].strip()}}
        if tool == "update_record":
            return tool, {
                "table": "records",
                "record_id": found["id"],
                "data": {found["field"]: found["value"].strip()},
            }
        if tool in ("read_record", "delete_record"):
            return tool, {"table": "records", "record_id": found["id"]}
        if tool == "list_records":
            return tool, {"table": "records"}
        return tool, {"query": found["query"].strip()}
    return None


def describe_result(tool: str, result: dict[str, Any]) -> str:
    """One or two sentences saying what a tool call did."""
    if not result.get("success"):
        error = result.get("error") or {}
        return f"The {tool} tool could not do that: {error.get('message', 'it failed')}"
    if tool == "search_documents":
        hits = result.get("results") or []
        if not hits:
            return "No document matched that search."
        lines = [
            f"[{n}] {hit.get('source')}: {_excerpt(str(hit.get('content', '')))}"
            for n, hit in enumerate(hits[:5], start=1)
        ]
        return f"I found {len(hits)} passage{'s' if len(hits) != 1 else ''}:\n" + "\n".join(lines)
    if tool == "list_records":
        records = result.get("records") or []
        if not records:
            return "You have no records in this session yet."
        names = ", ".join(
            f"{r.get('id')} ({_fields({k: v for k, v in r.items() if k != 'id'})})" for r in records
        )
        return f"You have {len(records)} record{'s' if len(records) != 1 else ''}: {names}."
    record_id = result.get("record_id", "?")
    if tool == "delete_record":
        return f"Deleted record {record_id}."
    verb = {"create_record": "Created", "update_record": "Updated"}.get(tool, "Record")
    return f"{verb} record {record_id}: {_fields(result.get('data'))}."


def tool_result_payload(content: list[dict[str, Any]]) -> dict[str, Any]:
    """The structured result inside a Strands tool result's content blocks."""
    for block in content:
        if isinstance(block.get("json"), dict):
            return dict(block["json"])
    for block in content:
        try:
            parsed = json.loads(block.get("text", ""))
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return {"success": False, "error": {"message": "it returned nothing readable"}}


def _fields(data: Any) -> str:
    if not isinstance(data, dict) or not data:
        return "no fields"
    shown = [
        f"{key} = {json.dumps(value, ensure_ascii=False)}"
        for key, value in data.items()
        if key not in ("created_at", "updated_at")
    ]
    return ", ".join(shown[:8]) or "no fields"


def _excerpt(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
