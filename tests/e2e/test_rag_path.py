"""Documents end to end: `chatbot ingest` with the real local model, then a cited chat answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.adapters.local.gateway import LocalGateway
from chatbot.config import Settings
from tests.e2e.conftest import ChatClient
from tests.e2e.served import ingest

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    state = tmp_path / "state"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pumps.md").write_text(
        "# Pump maintenance\n\n"
        "The impeller of the P-100 pump must be replaced every 2,000 operating hours. "
        "Replacing it takes about forty minutes with the standard toolkit.\n\n"
        "# Ordering parts\n\n"
        "Spare impellers are ordered from the parts desk using form PD-7.\n"
    )
    (docs / "holidays.md").write_text(
        "# Holidays\n\nEvery employee has 28 days of paid leave a year, booked in the portal.\n"
    )
    ingest([str(docs)], state)
    return Settings(CHATBOT_STATE_DIR=state)


async def test_a_question_about_ingested_documents_is_answered_with_correct_citations(
    client: ChatClient, gateway: LocalGateway
) -> None:
    await client.session()
    frames = await client.ask(
        "r1", "According to the documentation, how often must the pump impeller be replaced?"
    )
    final = frames[-1]
    assert final["type"] == "message", final
    assert final["queryType"] == "rag"
    assert "2,000 operating hours" in final["content"]
    assert "[1]" in final["content"]
    assert final["sources"][0] == "docs/pumps.md"
    assert final["citations"][0]["source"] == "docs/pumps.md"
    assert "impeller" in final["citations"][0]["excerpt"]
    assert final["citations"][0]["score"] >= 0.3


async def test_a_document_question_the_documents_cannot_answer_gets_a_plain_no(
    client: ChatClient,
) -> None:
    await client.session()
    frames = await client.ask(
        "r2", "What does the handbook say about the cafeteria menu on Fridays?"
    )
    final = frames[-1]
    assert final["queryType"] == "rag"
    assert final["sources"] == []
    assert "could not find" in final["content"]
