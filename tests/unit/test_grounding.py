"""The grounding check on documents answers, for every model: what an answer cites is what
is listed with it, a [n] naming no source is flagged, an answer citing nothing is logged and
counted, and no log holds what the user wrote or what the answer said."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.analytics_cli import breakdowns
from chatbot.analytics_report import DateRange, read_events, summarize
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.engine.grounding import check_grounding, cited_numbers
from chatbot.ports import EngineRequest
from chatbot.records import DocumentChunk
from chatbot.tables import Tables
from tests.conftest import FakeClock, ScriptedModel, scripted
from tests.unit.conftest import RecordingSender, events_of

QUESTION = "According to the handbook, how are refunds paid? Qx7-USER-MARK"
CHUNKS = [
    DocumentChunk(id="a", source="docs/refunds.md", score=0.9, content="Refunds take 14 days."),
    DocumentChunk(id="b", source="docs/shipping.md", score=0.6, content="Orders ship in 2 days."),
    DocumentChunk(id="c", source="docs/refunds.md", score=0.5, content="Refunds go to the card."),
]


class FixedSearch:
    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        return CHUNKS[:limit]


async def answer_with(
    model_answer: str,
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The final frame and the ``query`` event's details of one documents answer."""
    engine = ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(ScriptedModel([model_answer])),
        policy=AnswerPolicy(rag_top_k=3),
        documents=FixedSearch(),
    )
    conversations.add_user_message("s", "m1", QUESTION)
    answer = await engine.process_message(
        EngineRequest(sessionId="s", messageId="m1", connectionId="c")
    )
    assert answer is not None
    [query] = events_of(tables, answer.timestamp[:10], "query")
    details = query["details"]
    assert isinstance(details, dict)
    return json.loads(sender.posted[-1][1]), details


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    return repr([vars(record) for record in caplog.records])


async def test_a_good_answer_lists_only_the_sources_it_cites_under_their_numbers(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    final, details = await answer_with(
        "Refunds take 14 days [1] and go back to the card [3].",
        conversations,
        analytics,
        sender,
        tables,
    )
    # [2] was given but not cited: not listed. [3] keeps its number: id 3, not renumbered.
    assert [(c["id"], c["source"]) for c in final["citations"]] == [
        ("1", "docs/refunds.md"),
        ("3", "docs/refunds.md"),
    ]
    assert final["sources"] == ["docs/refunds.md"]
    assert details["sourcesGiven"] == 3 and details["citedCount"] == 2
    assert "ungrounded" not in details and "unknownCitations" not in details
    assert "not grounded" not in log_text(caplog)


async def test_a_citation_of_a_source_not_given_is_flagged_and_left_in_the_text(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    text = "Refunds take 14 days [1], or longer for cards [7]."
    final, details = await answer_with(text, conversations, analytics, sender, tables)
    # The deltas already carried [7]: the final content is what streamed, unchanged.
    assert final["content"] == text
    assert [c["id"] for c in final["citations"]] == ["1"]
    assert details["citedCount"] == 1 and details["unknownCitations"] == 1
    assert "ungrounded" not in details
    [warning] = [
        r for r in caplog.records if r.getMessage().endswith("not grounded in its sources")
    ]
    assert vars(warning)["messageId"] == "m1" and vars(warning)["unknownCitations"] == 1
    assert "Qx7-USER-MARK" not in log_text(caplog) and "longer for cards" not in log_text(caplog)


async def test_an_answer_citing_nothing_is_logged_and_counted_as_ungrounded(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    final, details = await answer_with(
        "Refunds are quick, Qx7-MODEL-MARK.", conversations, analytics, sender, tables
    )
    assert "citations" not in final and final["sources"] == []
    assert details["ungrounded"] is True
    assert details["citedCount"] == 0 and details["sourcesGiven"] == 3
    [warning] = [
        r for r in caplog.records if r.getMessage().endswith("not grounded in its sources")
    ]
    assert vars(warning)["ungrounded"] is True and vars(warning)["sourcesGiven"] == 3
    assert "Qx7" not in log_text(caplog)
    # The analyst's summary counts it.
    day = date.fromisoformat(final["timestamp"][:10])
    _, total = summarize(read_events(tables.analytics, DateRange(day, day)), DateRange(day, day))
    assert total.grounding == {"cited nothing": 1}
    assert ("Documents answers", ["citations", "answers"], [["cited nothing", "1"]]) in (
        breakdowns(total)
    )


async def test_a_general_answer_carries_no_grounding_fields(
    conversations: ConversationStore,
    analytics: AnalyticsRecorder,
    sender: RecordingSender,
    tables: Tables,
) -> None:
    engine = ChatbotEngine(
        clock=FakeClock(),
        conversations=conversations,
        analytics=analytics,
        sender=sender,
        model_for=scripted(ScriptedModel(["Arrays start at [0] here."])),
    )
    conversations.add_user_message("s", "m1", "Write me a haiku about autumn")
    answer = await engine.process_message(
        EngineRequest(sessionId="s", messageId="m1", connectionId="c")
    )
    assert answer is not None
    [query] = events_of(tables, answer.timestamp[:10], "query")
    assert isinstance(query["details"], dict)
    assert not {"sourcesGiven", "citedCount", "ungrounded"} & set(query["details"])


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("A [2], then [1], then [2] again.", [2, 1]),
        # An index in code is not a citation; nor is a link whose text is a number.
        ("Use `a[3]` or [4](https://x.test) [1].", [1]),
        ("```python\nrows[5]\n```\nSee [2].", [2]),
        ("Both [1][3].", [1, 3]),
    ],
)
def test_citations_are_read_as_the_page_links_them(text: str, numbers: list[int]) -> None:
    assert cited_numbers(text) == numbers


def test_an_answer_stopped_by_the_user_is_not_called_ungrounded() -> None:
    assert not check_grounding("Refunds", 3, message_id="m", complete=False).ungrounded
    assert check_grounding("Refunds", 3, message_id="m").ungrounded
