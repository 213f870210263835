"""Frames nested past MAX_NESTING_DEPTH are refused before parsing, on the Lambda path too."""

from __future__ import annotations

import json

import pytest

from chatbot.adapters.local import events
from chatbot.protocol import MAX_NESTING_DEPTH, FrameError, nested_too_deep, parse_client_frame


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_up_to_the_limit_is_allowed_and_one_more_is_not() -> None:
    assert not nested_too_deep(nested(MAX_NESTING_DEPTH))
    assert nested_too_deep(nested(MAX_NESTING_DEPTH + 1))


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"action": "sendMessage", "content": "[" * 5000}),
        json.dumps({"action": "sendMessage", "content": '\\"' + "{" * 5000}),
        "[]" * 5000,
    ],
    ids=["brackets-in-a-string", "escaped-quote-then-brackets", "wide-not-deep"],
)
def test_brackets_inside_strings_and_wide_frames_do_not_count(text: str) -> None:
    assert not nested_too_deep(text.encode())


def test_a_thousand_levels_is_invalid_message_not_recursion_error() -> None:
    body = '{"a":' * 1000 + "1" + "}" * 1000
    with pytest.raises(FrameError) as raised:
        parse_client_frame(body, max_bytes=128 * 1024)
    assert raised.value.code.value == "INVALID_MESSAGE"
    assert body[:20] not in raised.value.public_message


def test_the_local_gateway_routes_a_deep_frame_to_default_without_parsing_it() -> None:
    assert events.select_route(nested(1000).decode()) == "$default"
