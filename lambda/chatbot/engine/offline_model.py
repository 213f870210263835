"""The offline model provider: a Strands ``Model`` that answers deterministically, with no network.

It is honest about being offline: it says what path the question took and what a configured
model would do, echoes the question, and notes how much conversation it was given. It streams
its answer in several deltas, like a real provider, so the whole streaming path runs locally.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any, TypeVar

from pydantic import BaseModel
from strands.models.model import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolSpec

from chatbot.engine.extractive import extractive_answer
from chatbot.engine.offline_intents import describe_result, tool_request, tool_result_payload
from chatbot.engine.rag import parse_grounded_prompt
from chatbot.engine.router import ROUTE_LABELS, determine_query_type

T = TypeVar("T", bound=BaseModel)

_WORDS_PER_DELTA = 4

# The route that makes the offline model a classifier: it names the route of the message.
ROUTER = "router"

_PATH_NOTES = {
    "rag": (
        "This looks like a question about your documents. With a language model configured I "
        "would search the document index and answer with citations."
    ),
    "mcp_tool": (
        "This looks like a request for one of the tools (document search or records). With a "
        "language model configured I would call the matching tool and report its result."
    ),
    "general": (
        "With a language model configured (CHATBOT_MODEL=bedrock, or a local model server) I "
        "would answer this in my own words, using our conversation as context."
    ),
}


class OfflineModel(Model):
    """Deterministic answers for running and testing without a model service.

    With ``route="router"`` it is the router's classifier: it replies with the one word naming
    the route the keyword rules give the last user message.
    """

    def __init__(self, *, route: str = "general") -> None:
        self._config: dict[str, Any] = {"model_id": "offline", "route": route}

    def update_config(self, **model_config: Any) -> None:
        self._config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    def structured_output(
        self,
        output_model: type[T],
        prompt: Messages,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        raise TypeError("the offline model does not produce structured output")

    def compose_answer(self, messages: Messages) -> str:
        question = _last_user_text(messages)
        earlier_turns = sum(1 for message in messages[:-1] if message["role"] == "user")
        route = str(self._config.get("route", "general"))
        quoted = question if len(question) <= 300 else question[:297] + "..."
        context = (
            f" We have exchanged {earlier_turns} earlier message{'s' if earlier_turns != 1 else ''}"
            " in this conversation."
            if earlier_turns
            else ""
        )
        return (
            f'I am the offline assistant: no language model is connected. You asked: "{quoted}". '
            f"{_PATH_NOTES.get(route, _PATH_NOTES['general'])}{context}"
        )

    async def stream(
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[StreamEvent]:
        results = _tool_results(messages)
        if self._config.get("route") == ROUTER:
            answer = ROUTE_LABELS[determine_query_type(_last_user_text(messages))]
        elif results:
            answer = _describe_tool_results(messages, results)
        else:
            available = {spec["name"] for spec in tool_specs or []}
            request = tool_request(_last_user_text(messages), available) if available else None
            if request is not None:
                for event in _tool_use_events(*request, call_number=len(messages)):
                    yield event
                return
            grounded = parse_grounded_prompt(_last_user_text(messages))
            if grounded is not None and grounded[1]:
                answer = extractive_answer(*grounded)
            else:
                answer = self.compose_answer(messages)
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockStart": {"start": {}}}
        for fragment in split_into_deltas(answer):
            yield {"contentBlockDelta": {"delta": {"text": fragment}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        input_tokens = sum(len(_text_of(message).split()) for message in messages)
        yield {
            "metadata": {
                "usage": {
                    "inputTokens": input_tokens,
                    "outputTokens": len(answer.split()),
                    "totalTokens": input_tokens + len(answer.split()),
                },
                "metrics": {"latencyMs": 0},
            }
        }


def split_into_deltas(text: str, words: int = _WORDS_PER_DELTA) -> list[str]:
    """Split text into fragments of a few words; their concatenation is exactly the text."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    return ["".join(pieces[i : i + words]) for i in range(0, len(pieces), words)]


def _text_of(message: Any) -> str:
    return " ".join(block["text"] for block in message["content"] if "text" in block)


def _last_user_text(messages: Messages) -> str:
    for message in reversed(messages):
        text = _text_of(message).strip() if message["role"] == "user" else ""
        if text:
            return text
    return ""


def _tool_results(messages: Messages) -> list[Any]:
    """The tool results the last message hands back to the model, if it is one."""
    if not messages or messages[-1]["role"] != "user":
        return []
    return [block["toolResult"] for block in messages[-1]["content"] if "toolResult" in block]


def _describe_tool_results(messages: Messages, results: list[Any]) -> str:
    names: dict[str, str] = {}
    for message in messages:
        for block in message["content"]:
            if "toolUse" in block:
                names[block["toolUse"]["toolUseId"]] = block["toolUse"]["name"]
    return "\n".join(
        describe_result(
            names.get(result["toolUseId"], "tool"), tool_result_payload(list(result["content"]))
        )
        for result in results
    )


def _tool_use_events(name: str, arguments: dict[str, Any], *, call_number: int) -> list[Any]:
    start = {"toolUse": {"toolUseId": f"offline-{call_number}", "name": name}}
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockStart": {"start": start}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(arguments)}}}},
        {"contentBlockStop": {}},
        {"messageStop": {"stopReason": "tool_use"}},
    ]
