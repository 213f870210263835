"""The offline Strands model: deterministic, honest, streamed in several deltas."""

from __future__ import annotations

from strands import Agent

from chatbot.engine.offline_model import OfflineModel, split_into_deltas


def test_deltas_concatenate_to_exactly_the_text() -> None:
    text = "One  two\tthree\nfour five six seven  "
    parts = split_into_deltas(text, 2)
    assert len(parts) > 1
    assert "".join(parts) == text


async def test_an_agent_on_the_offline_model_streams_several_deltas_of_one_answer() -> None:
    agent = Agent(model=OfflineModel(route="rag"), callback_handler=None)
    fragments = [
        event["data"]
        async for event in agent.stream_async("Where is the refund policy?")
        if "data" in event
    ]
    answer = "".join(fragments)
    assert len(fragments) >= 3
    assert "offline" in answer and "Where is the refund policy?" in answer
    assert "documents" in answer


async def test_the_same_question_gets_the_same_answer() -> None:
    async def ask() -> str:
        agent = Agent(model=OfflineModel(), callback_handler=None)
        return str(await agent.invoke_async("same question")).strip()

    assert await ask() == await ask()


async def test_as_the_router_it_replies_with_the_one_word_the_keyword_rules_give() -> None:
    agent = Agent(model=OfflineModel(route="router"), callback_handler=None)
    replies = [
        str(await agent.invoke_async(message)).strip()
        for message in (
            "delete record 7b1d9e44",
            "search the documents for refund policy",
            "Hello!",
        )
    ]
    assert replies == ["tools", "documents", "general"]
