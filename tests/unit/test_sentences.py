"""What an extractive answer may quote: whole prose sentences of Markdown, split without
cutting inline Markdown, abbreviations or numbers, and never a heading, table or code."""

from __future__ import annotations

import pytest

from chatbot.engine.extractive import cite, extractive_answer
from chatbot.engine.sentences import prose_sentences, split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Set `a.b. C` first. Then run it.",
            ["Set `a.b. C` first.", "Then run it."],
        ),
        (
            "Read [the guide. It helps](docs/guide.md) now. Then go.",
            ["Read [the guide. It helps](docs/guide.md) now.", "Then go."],
        ),
        (
            "Use a tool, e.g. Black or i.e. Ruff. Python 3.11 is needed. Done.",
            ["Use a tool, e.g. Black or i.e. Ruff.", "Python 3.11 is needed.", "Done."],
        ),
        (
            "See https://example.com/a.b. Then stop. **Bold. Still bold.** End.",
            ["See https://example.com/a.b.", "Then stop.", "**Bold. Still bold.** End."],
        ),
        ("Is it? Yes (it is). Next!", ["Is it?", "Yes (it is).", "Next!"]),
    ],
)
def test_sentences_split_at_their_ends_and_never_inside_markdown_or_abbreviations(
    text: str, sentences: list[str]
) -> None:
    assert split_sentences(text) == sentences


MARKDOWN = """# Retention

How long data is kept

Events expire after `ANALYTICS_RETENTION_DAYS` days, 365 by default.

- Message text in logs, unless `LOG_USER_CONTENT=true`.
- Analytics events carry ids and counts; never the text of a question.
- `--days N`: the last N days up to today.
- finds idle sessions through the
  sparse index, oldest first.

| setting | default |
| --- | --- |
| `ANALYTICS_RETENTION_DAYS` | 365 days are kept. |

```python
print("This is code. It is not prose.")
```

Setext heading is here.
-----------------------

    $ chatbot analytics summary --days 7
    this line is code too.

What is never kept

Where does it go? The store keeps it, as [`docs/retention.md`](docs/retention.md) says.
The chunk was cut in the mid
"""


def test_only_whole_prose_sentences_are_quotable() -> None:
    assert prose_sentences(MARKDOWN) == [
        "Events expire after `ANALYTICS_RETENTION_DAYS` days, 365 by default.",
        # A list item that is a sentence, without its marker; a noun phrase, a definition
        # and an item starting mid-sentence are not.
        "Analytics events carry ids and counts; never the text of a question.",
        # The question before it is not an answer; the cut-off last line is no sentence.
        "The store keeps it, as [`docs/retention.md`](docs/retention.md) says.",
    ]


def test_broken_inline_markdown_is_not_quoted() -> None:
    assert (
        prose_sentences("Run the `chatbot serve command now.\n\nSee [the docs(x) for more.") == []
    )


def test_the_citation_goes_before_the_sentence_end() -> None:
    assert cite("Refunds take 14 days.", 2) == "Refunds take 14 days [2]."
    assert cite("It is in (`docs/x.md`).", 1) == "It is in (`docs/x.md`) [1]."


def test_a_sentence_in_two_overlapping_chunks_is_quoted_once_with_the_better_ranked_number() -> (
    None
):
    shared = "Refunds are paid within 14 days of the request."
    answer = extractive_answer(
        "When are refunds paid?",
        [(1, "a.md", f"Intro here is long. {shared}"), (2, "b.md", f"{shared} Other text here.")],
    )
    assert answer == f"From the documents: {cite(shared, 1)}"


def test_with_no_shared_word_the_closest_whole_sentence_is_quoted() -> None:
    answer = extractive_answer(
        "Unicorns?", [(1, "a.md", "## Heading only\n\nThe store keeps every event for a year.")]
    )
    assert answer == "The closest passage I found says: The store keeps every event for a year [1]."


def test_an_interactive_session_is_code_not_prose() -> None:
    text = (
        "Rows are tuples by default.\n\n"
        ">>> row = cur.fetchone()\n>>> row[0]\n'Earth'\nThe output line is code too."
    )
    assert prose_sentences(text) == ["Rows are tuples by default."]


def test_a_sentence_with_a_bracketed_number_of_its_own_is_not_quoted() -> None:
    # "a_tuple[0]" in plain text would read as a citation [0].
    answer = extractive_answer(
        "How do tuples work?",
        [(1, "a.md", "Tuples work like a_tuple[0] here. Tuples work as records do.")],
    )
    assert answer == "From the documents: Tuples work as records do [1]."
