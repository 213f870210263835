"""The conversation context: newest turns within the token budget, the rest summarised."""

from __future__ import annotations

from chatbot.engine.context import (
    SUMMARY_MAX_CHARS,
    Turn,
    estimate_tokens,
    fit_to_budget,
    summarise,
)


def turns(count: int, size: int = 40) -> list[Turn]:
    """``count`` turns of ``size`` characters a side: ``size / 4 * 2`` tokens each."""
    return [Turn(f"q{n}".ljust(size, "."), f"a{n}".ljust(size, ".")) for n in range(count)]


def texts(context_messages: list[dict[str, object]]) -> list[str]:
    return [m["content"][0]["text"][:3].rstrip(".") for m in context_messages]  # type: ignore[index]


def test_tokens_are_estimated_at_four_characters_rounded_up() -> None:
    assert [estimate_tokens(t) for t in ("", "abc", "abcd", "abcde")] == [0, 1, 1, 2]


def test_everything_fits_a_large_budget_and_nothing_is_summarised() -> None:
    context = fit_to_budget(turns(3), budget=1000)
    assert texts(context.messages) == ["q0", "a0", "q1", "a1", "q2", "a2"]  # type: ignore[arg-type]
    assert (context.kept_turns, context.dropped_turns, context.summary) == (3, 0, None)
    assert context.tokens == 3 * 20
    assert context.last_question is not None and context.last_question.startswith("q2")


def test_the_oldest_turns_are_dropped_first_and_whole_and_named_in_the_summary() -> None:
    # 20 tokens a turn: a budget of 45 keeps two.
    context = fit_to_budget(turns(5), budget=45)
    assert texts(context.messages) == ["q3", "a3", "q4", "a4"]  # type: ignore[arg-type]
    assert (context.kept_turns, context.dropped_turns, context.tokens) == (2, 3, 40)
    assert context.summary is not None
    assert context.summary.startswith("Earlier in this conversation (3 exchanges no longer shown)")
    # Newest dropped question first.
    assert (
        context.summary.index('"q2') < context.summary.index('"q1') < context.summary.index('"q0')
    )
    assert "a1" not in context.summary  # questions only: answers would be the model's own words


def test_a_zero_budget_sends_no_history_but_keeps_the_previous_question_for_follow_ups() -> None:
    context = fit_to_budget(turns(2), budget=0)
    assert context.messages == [] and context.dropped_turns == 2
    assert context.last_question is not None and context.last_question.startswith("q1")


def test_one_turn_larger_than_the_budget_is_dropped_not_cut() -> None:
    context = fit_to_budget([Turn("x" * 4000, "y" * 4000)], budget=1000)
    assert context.messages == [] and context.dropped_turns == 1


def test_the_summary_stays_short_however_much_was_dropped() -> None:
    summary = summarise([Turn("why " * 200, "because") for _ in range(50)])
    assert summary is not None and len(summary) <= SUMMARY_MAX_CHARS + 10
    assert summary.endswith("....") or summary.endswith("...")
    assert "\u2026" in summary  # long questions are shortened
    assert summarise([]) is None
