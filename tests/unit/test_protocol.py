"""Client frame validation: each malformed frame maps to its protocol code."""

from __future__ import annotations

import json

import pytest

from chatbot.errors import ErrorCode
from chatbot.protocol import FrameError, GetHistoryFrame, SendMessageFrame, parse_client_frame
from chatbot.server_frames import ErrorFrame

LIMIT = 128 * 1024


def refuse(body: str | bytes | None) -> FrameError:
    with pytest.raises(FrameError) as raised:
        parse_client_frame(body, max_bytes=LIMIT)
    return raised.value


def test_send_message_content_is_trimmed_and_defaults_to_user_type() -> None:
    frame = parse_client_frame(
        json.dumps({"action": "sendMessage", "messageId": "a_B-1", "content": "  hi  "}),
        max_bytes=LIMIT,
    )
    assert isinstance(frame, SendMessageFrame)
    assert (frame.content, frame.messageType) == ("hi", "user")


def test_history_limit_defaults_to_fifty() -> None:
    frame = parse_client_frame('{"action": "getHistory"}', max_bytes=LIMIT)
    assert isinstance(frame, GetHistoryFrame) and frame.limit == 50


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    frame = parse_client_frame('{"action": "ping", "future": true}', max_bytes=LIMIT)
    assert frame.action == "ping"


@pytest.mark.parametrize("body", [None, "", "{", "null", '"text"', "[]", b"\xff"])
def test_anything_but_a_json_object_is_an_invalid_message(body: str | bytes | None) -> None:
    assert refuse(body).code is ErrorCode.INVALID_MESSAGE


def test_an_unknown_action_lists_the_supported_ones() -> None:
    error = refuse('{"action": "fly", "messageId": "m1"}')
    assert error.code is ErrorCode.UNKNOWN_ACTION
    assert "sendMessage" in error.public_message
    assert error.message_id == "m1"


def test_exactly_8000_characters_are_accepted_and_8001_are_too_large() -> None:
    ok = {"action": "sendMessage", "messageId": "m", "content": "x" * 8000}
    assert isinstance(parse_client_frame(json.dumps(ok), max_bytes=LIMIT), SendMessageFrame)
    error = refuse(json.dumps({**ok, "content": "x" * 8001}))
    assert (error.code, error.message_id) == (ErrorCode.MESSAGE_TOO_LARGE, "m")


def test_a_frame_over_the_byte_limit_is_refused_before_parsing() -> None:
    error = refuse("{" + " " * LIMIT + "}")
    assert error.code is ErrorCode.MESSAGE_TOO_LARGE


def test_validation_errors_name_the_field_but_never_echo_the_input() -> None:
    error = refuse(
        '{"action": "sendMessage", "messageId": "m", "content": "secret", "timestamp": "soon"}'
    )
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert "timestamp" in error.public_message
    assert "secret" not in error.public_message and "secret" not in str(error)


def test_error_frames_carry_code_safe_message_and_retryability() -> None:
    error = refuse('{"action": 1}')
    frame = json.loads(ErrorFrame.from_error(error, None).to_json())
    assert frame == {
        "type": "error",
        "code": "INVALID_MESSAGE",
        "message": error.public_message,
        "retryable": False,
    }
