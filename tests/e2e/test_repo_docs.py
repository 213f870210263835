"""The repository's own docs folder, ingested with the real local model, answers questions in
the chat with citations of the right file (issue 6's "done when")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatbot.config import Settings
from tests.e2e.conftest import ChatClient
from tests.e2e.served import ingest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder with the repo's docs/ ingested once for the module."""
    state = tmp_path_factory.mktemp("state")
    ingest(["docs"], state)
    return state


@pytest.fixture
def settings(ingested: Path) -> Settings:
    return Settings(CHATBOT_STATE_DIR=ingested)


@pytest.mark.parametrize(
    ("question", "expected", "sources"),
    [
        # Both guides say it: analytics.md in passing, retention.md in its table.
        (
            "How long are analytics events kept?",
            "365",
            {"docs/analytics.md", "docs/retention.md"},
        ),
        # The command itself is only in a code block, which an offline answer does not quote:
        # the sentence that names it does.
        (
            "Which command exports analytics events as CSV?",
            "`chatbot analytics`",
            {"docs/analytics.md"},
        ),
    ],
)
async def test_a_question_about_the_repos_docs_is_answered_from_them_with_citations(
    client: ChatClient, question: str, expected: str, sources: set[str]
) -> None:
    await client.session()
    final = (await client.ask("d1", question))[-1]
    assert final["type"] == "message", final
    assert final["queryType"] == "rag"
    content = final["content"]
    assert expected in content, content
    # The citation that follows the fact names a chunk of a file that says it.
    marker = re.search(r"\[(\d+)\]", content[content.index(expected) :])
    assert marker is not None, content
    # [n] is the citation whose id is n; only the cited ones are listed.
    [cited] = [c for c in final["citations"] if c["id"] == marker.group(1)]
    assert cited["source"] in sources
    assert cited["source"] in final["sources"]
