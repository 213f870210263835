"""The query micro-batcher in front of the local embedding model, with a fake model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from chatbot.adapters.local.query_batcher import QueryBatcher

# Long enough that only the size cap can end a batch within a test's run.
NEVER = 30.0


class FakeModel:
    """Embeds a text as [its number] (texts are "q<number>") and records every batch."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.batches: list[list[str]] = []
        self.error = error
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            self.batches.append(list(texts))
        if self.error is not None:
            raise self.error
        return [[float(text[1:])] for text in texts]


def ask_together(batcher: QueryBatcher, count: int) -> dict[int, list[float] | BaseException]:
    """``count`` threads embed "q0".."q<count-1>" at once; what each one got back."""
    results: dict[int, list[float] | BaseException] = {}
    start = threading.Barrier(count)

    def ask(number: int) -> None:
        start.wait()
        try:
            results[number] = batcher.embed(f"q{number}")
        except Exception as error:
            results[number] = error

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=NEVER)
    assert not any(thread.is_alive() for thread in threads), "a caller never got an answer"
    return results


def test_callers_arriving_together_share_forward_passes_of_the_cap() -> None:
    model = FakeModel()
    batcher = QueryBatcher(model, window_seconds=NEVER, max_batch=5)
    results = ask_together(batcher, 10)
    assert [len(batch) for batch in model.batches] == [5, 5]
    assert results == {number: [float(number)] for number in range(10)}
    assert batcher.stats.sizes == {5: 2}


def test_no_batch_is_larger_than_the_cap_and_the_last_one_ends_with_the_window() -> None:
    model = FakeModel()
    batcher = QueryBatcher(model, window_seconds=0.05, max_batch=3)
    results = ask_together(batcher, 7)
    assert all(len(batch) <= 3 for batch in model.batches)
    assert sorted(text for batch in model.batches for text in batch) == sorted(
        f"q{number}" for number in range(7)
    )
    assert results == {number: [float(number)] for number in range(7)}


def test_callers_arriving_while_the_model_is_busy_all_join_the_next_batch() -> None:
    model = FakeModel()
    busy, release = threading.Event(), threading.Event()

    def slow_first_batch(texts: list[str]) -> list[list[float]]:
        if not model.batches:
            busy.set()
            assert release.wait(NEVER)
        return model(texts)

    batcher = QueryBatcher(slow_first_batch, window_seconds=0.001, max_batch=32)
    first = threading.Thread(target=batcher.embed, args=("q0",))
    first.start()
    assert busy.wait(NEVER)
    later = [threading.Thread(target=batcher.embed, args=(f"q{n}",)) for n in range(1, 6)]
    for thread in later:
        thread.start()
    # All five wait for the model, past the window, instead of forming batches of their own.
    for _ in range(int(NEVER * 1000)):
        if batcher.waiting == 5:
            break
        time.sleep(0.001)
    release.set()
    for thread in [first, *later]:
        thread.join(NEVER)
    assert [len(batch) for batch in model.batches] == [1, 5]


def test_a_lone_query_is_embedded_once_the_window_has_passed() -> None:
    model = FakeModel()
    batcher = QueryBatcher(model, window_seconds=0.001, max_batch=32)
    assert batcher.embed("q7") == [7.0]
    assert model.batches == [["q7"]]
    assert (batcher.stats.batches, batcher.stats.queries, batcher.stats.largest) == (1, 1, 1)


def test_with_no_window_a_query_does_not_wait_for_others() -> None:
    model = FakeModel()
    batcher = QueryBatcher(model, window_seconds=0.0, max_batch=32)
    assert [batcher.embed("q1"), batcher.embed("q2")] == [[1.0], [2.0]]
    assert model.batches == [["q1"], ["q2"]]


def test_the_models_error_reaches_every_caller_of_the_batch() -> None:
    failure = RuntimeError("model gone")
    model = FakeModel(error=failure)
    batcher = QueryBatcher(model, window_seconds=NEVER, max_batch=4)
    results = ask_together(batcher, 4)
    assert results == {number: failure for number in range(4)}
    # The batcher is still usable once the model answers again.
    model.error = None
    batcher_results = ask_together(batcher, 4)
    assert batcher_results == {number: [float(number)] for number in range(4)}


def test_a_model_returning_too_few_vectors_fails_each_caller_rather_than_mixing_them_up() -> None:
    batcher = QueryBatcher(lambda texts: [[0.0]], window_seconds=NEVER, max_batch=2)
    results = ask_together(batcher, 2)
    assert all(isinstance(result, RuntimeError) for result in results.values())


def test_no_caller_is_lost_among_many_with_a_short_window() -> None:
    model = FakeModel()
    batcher = QueryBatcher(model, window_seconds=0.001, max_batch=8)
    results = ask_together(batcher, 120)
    assert results == {number: [float(number)] for number in range(120)}
    assert batcher.stats.queries == 120
    assert batcher.stats.largest <= 8
    assert batcher.stats.batches < 120


@pytest.mark.parametrize(
    "build",
    [
        lambda: QueryBatcher(FakeModel(), window_seconds=-1, max_batch=1),
        lambda: QueryBatcher(FakeModel(), window_seconds=0, max_batch=0),
    ],
)
def test_a_negative_window_or_an_empty_cap_is_refused(build: Callable[[], QueryBatcher]) -> None:
    with pytest.raises(ValueError, match="must"):
        build()
