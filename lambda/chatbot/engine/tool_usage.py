"""Analytics for the tools an answer calls: one ``tool_usage`` event per call, and their names."""

from __future__ import annotations

import time

from strands.hooks import AfterToolCallEvent, BeforeToolCallEvent

from chatbot.analytics import AnalyticsRecorder
from chatbot.records import ToolRun


class ToolUsageRecorder:
    """Records a ``tool_usage`` event for every tool call the agent makes (hook it in with
    ``before`` and ``after``); ``tools_used`` names each tool called, in first-call order, and
    ``runs`` lists every call, in call order, with whether it succeeded."""

    def __init__(self, analytics: AnalyticsRecorder, session_id: str) -> None:
        self._analytics = analytics
        self._session_id = session_id
        self._started: dict[str, float] = {}
        self.tools_used: list[str] = []
        self.runs: list[ToolRun] = []

    def before(self, event: BeforeToolCallEvent) -> None:
        self._started[event.tool_use["toolUseId"]] = time.perf_counter()

    def after(self, event: AfterToolCallEvent) -> None:
        tool_use_id = event.tool_use["toolUseId"]
        started = self._started.pop(tool_use_id, time.perf_counter())
        name = event.tool_use["name"]
        success = event.exception is None and event.result.get("status") == "success"
        if name not in self.tools_used:
            self.tools_used.append(name)
        self.runs.append(ToolRun(name=name, success=success))
        self._analytics.record(
            "tool_usage",
            self._session_id,
            {
                "tool": name,
                "success": success,
                "latencyMs": round((time.perf_counter() - started) * 1000),
            },
        )
