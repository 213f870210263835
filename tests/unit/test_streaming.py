"""Delta coalescing: few posts per answer, text held back no longer than the policy allows."""

from __future__ import annotations

import asyncio
import json

import pytest

from chatbot.engine.streaming import DeltaStream, StreamingPolicy
from tests.unit.conftest import RecordingSender


class Ticks:
    """A clock the test sets."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def contents(sender: RecordingSender) -> list[tuple[int, str]]:
    return [
        (frame["index"], frame["content"])
        for frame in map(json.loads, (d for _, d in sender.posted))
    ]


async def test_the_first_fragment_goes_at_once_and_the_rest_waits_for_the_close() -> None:
    sender, clock = RecordingSender(), Ticks()
    stream = DeltaStream(sender, "c", "m", StreamingPolicy(max_wait=0.1, max_chars=100), clock)
    stream.push("Hello ")
    assert contents(sender) == [(0, "Hello ")]
    for word in ("there, ", "how ", "are ", "you?"):
        clock.now += 0.01
        stream.push(word)
    assert len(sender.posted) == 1
    stream.close()
    assert contents(sender) == [(0, "Hello "), (1, "there, how are you?")]
    assert stream.text == "Hello there, how are you?"
    assert stream.stats.posts == 2 and stream.stats.fragments == 5
    # "there, " waited from 100.01 to the close at 100.04.
    assert max(stream.stats.delays) == pytest.approx(0.03)


async def test_text_over_the_size_limit_is_posted_at_once_in_frames_no_larger_than_it() -> None:
    sender = RecordingSender()
    stream = DeltaStream(sender, "c", "m", StreamingPolicy(max_wait=10, max_chars=4))
    stream.push("ab")
    stream.push("cdefghij")
    assert contents(sender) == [(0, "ab"), (1, "cdef"), (2, "ghij")]
    stream.close()
    assert len(sender.posted) == 3


def test_a_zero_wait_posts_every_fragment() -> None:
    sender = RecordingSender()
    stream = DeltaStream(sender, "c", "m", StreamingPolicy(max_wait=0, max_chars=1000))
    for word in ("a ", "b ", "c"):
        stream.push(word)
    assert contents(sender) == [(0, "a "), (1, "b "), (2, "c")]


async def test_held_text_is_posted_when_the_wait_runs_out_even_if_the_model_pauses() -> None:
    sender = RecordingSender()
    stream = DeltaStream(sender, "c", "m", StreamingPolicy(max_wait=0.05, max_chars=1000))
    stream.push("one ")
    stream.push("two ")
    stream.push("three ")
    assert contents(sender) == [(0, "one ")]
    await asyncio.sleep(0.15)  # the model is silent; the timer must not wait for it
    assert contents(sender) == [(0, "one "), (1, "two three ")]
    stream.push("four")
    stream.close()
    assert contents(sender)[-1] == (2, "four")
    assert "".join(c for _, c in contents(sender)) == stream.text == "one two three four"


def test_a_client_gone_stops_posting_but_the_text_is_kept_and_indexes_stay_whole() -> None:
    sender = RecordingSender()
    stream = DeltaStream(sender, "c", "m", StreamingPolicy(max_wait=0, max_chars=1000))
    stream.push("a ")
    sender.gone.add("c")
    stream.push("b ")
    stream.push("c")
    assert stream.client_gone and stream.text == "a b c"
    assert contents(sender) == [(0, "a ")]


def test_empty_fragments_are_ignored_and_a_bad_policy_is_refused() -> None:
    sender = RecordingSender()
    stream = DeltaStream(sender, "c", "m")
    stream.push("")
    stream.close()
    assert sender.posted == [] and not stream.posted
    with pytest.raises(ValueError, match="max_wait"):
        StreamingPolicy(max_wait=-1)
    with pytest.raises(ValueError, match="max_wait"):
        StreamingPolicy(max_chars=0)
