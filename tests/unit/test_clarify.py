"""An opening message that names nothing gets a clarifying question, not a guess."""

from __future__ import annotations

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.conversations import ConversationStore
from chatbot.engine.clarify import CLARIFYING_QUESTION, is_unclear
from chatbot.engine.engine import ChatbotEngine
from chatbot.ports import EngineRequest
from tests.conftest import FakeClock, ScriptedModel, scripted
from tests.unit.conftest import RecordingSender


@pytest.mark.parametrize(
    "message", ["What about that?", "and the other one?", "Can you explain it please", "why those?"]
)
def test_messages_that_name_nothing_are_unclear_without_history(message: str) -> None:
    assert is_unclear(message, has_history=False)
    assert not is_unclear(message, has_history=True)


@pytest.mark.parametrize(
    "message",
    [
        "Is it raining?",
        "What is DynamoDB?",
        "hello",
        "thanks!",
        "ok",
        "Tell me about refunds",
        "2+2",
    ],
)
def test_one_content_word_is_enough(message: str) -> None:
    assert not is_unclear(message, has_history=False)


async def test_the_engine_asks_back_without_calling_the_model_then_answers_the_follow_up(
    conversations: ConversationStore, analytics: AnalyticsRecorder, sender: RecordingSender
) -> None:
    model = ScriptedModel(["The second option is cheaper."])
    engine = ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(model),
    )
    conversations.add_user_message("s", "m1", "What about that one?")
    first = await engine.process_message(
        EngineRequest(sessionId="s", messageId="m1", connectionId="c")
    )
    assert first is not None and first.content == CLARIFYING_QUESTION
    assert model.calls == []
    # With a turn behind it, the next vague message goes to the model with that context.
    conversations.add_user_message("s", "m2", "And the other?")
    second = await engine.process_message(
        EngineRequest(sessionId="s", messageId="m2", connectionId="c")
    )
    assert second is not None and second.content == "The second option is cheaper."
    [messages] = model.calls
    assert "What about that one?" in str(messages)
