"""Query embeddings batched: the texts of callers that arrive together share one forward pass.

Fifty questions at once would otherwise cost fifty forward passes of the local model, each
taking its turn on the model's lock. Here the first caller of a batch waits up to ``window``
seconds (or until ``max_batch`` texts are in) for others, and then for the model to finish
the batch before (callers keep joining meanwhile, so batches grow with the load), and
embeds them all in one call; each caller gets its own vector, or the batch's error. No
clock is read: the window is waited out in sleeps of a millisecond.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

# The window is waited out in sleeps this long (a 5 ms window: at most five wake-ups).
_GATHER_STEP_SECONDS = 0.001


@dataclass
class _Call:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: list[float] | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class BatchStats:
    """How many batches ran and how large they were (size -> batches of that size)."""

    batches: int
    queries: int
    sizes: dict[int, int]

    @property
    def largest(self) -> int:
        return max(self.sizes, default=0)

    @property
    def mean(self) -> float:
        return self.queries / self.batches if self.batches else 0.0


class QueryBatcher:
    """``embed(text)`` from any thread; ``embed_batch(texts)`` runs on one caller's thread."""

    def __init__(
        self,
        embed_batch: Callable[[list[str]], list[list[float]]],
        *,
        window_seconds: float,
        max_batch: int,
    ) -> None:
        if window_seconds < 0:
            raise ValueError(f"window_seconds must not be negative, not {window_seconds}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._embed_batch = embed_batch
        self._window = window_seconds
        self._max = max_batch
        self._ready = threading.Lock()
        self._pending: list[_Call] = []
        # Whether a caller is gathering the next batch (the others only wait for it).
        self._gathering = False
        self._sizes: Counter[int] = Counter()
        # One batch at a time on the model; the next one gathers while this one runs.
        self._model_turn = threading.Lock()

    @property
    def waiting(self) -> int:
        """Callers whose text is not yet in a batch being embedded."""
        with self._ready:
            return len(self._pending)

    @property
    def stats(self) -> BatchStats:
        with self._ready:
            sizes = dict(sorted(self._sizes.items()))
        return BatchStats(
            batches=sum(sizes.values()),
            queries=sum(size * count for size, count in sizes.items()),
            sizes=sizes,
        )

    def embed(self, text: str) -> list[float]:
        call = _Call(text)
        with self._ready:
            self._pending.append(call)
            leads = not self._gathering
            if leads:
                self._gathering = True
        if leads:
            self._lead()
        call.done.wait()
        if call.error is not None:
            raise call.error
        assert call.vector is not None
        return call.vector

    def _lead(self) -> None:
        """Gather and run batches until no caller is left waiting for one. The leader's own
        text is the first pending one, so it is in the first batch."""
        while True:
            self._gather()
            with self._model_turn:
                with self._ready:
                    batch = self._pending[: self._max]
                    del self._pending[: self._max]
                    # Callers past the cap came in while this batch gathered: lead theirs too.
                    more = bool(self._pending)
                    if not more:
                        self._gathering = False
                    self._sizes[len(batch)] += 1
                self._run(batch)
            if not more:
                return

    def _gather(self) -> None:
        """Wait out the window, in steps of a millisecond, leaving early once the batch is
        full. Sleeps rather than a timed wait on the condition: a timed lock wait computes its
        deadline on the monotonic clock, which libfaketime (the shifted-clock test run) moves
        without moving the kernel's, so it would sleep for the months of the shift."""
        for _ in range(math.ceil(self._window / _GATHER_STEP_SECONDS)):
            with self._ready:
                if len(self._pending) >= self._max:
                    return
            time.sleep(_GATHER_STEP_SECONDS)

    def _run(self, batch: list[_Call]) -> None:
        try:
            vectors = self._embed_batch([call.text for call in batch])
            if len(vectors) != len(batch):
                raise RuntimeError(f"{len(vectors)} vectors for {len(batch)} texts")
            for call, vector in zip(batch, vectors, strict=True):
                call.vector = vector
        except BaseException as error:
            # Every caller of the batch gets the error, as it would have embedding alone.
            for call in batch:
                call.error = error
        finally:
            for call in batch:
                call.done.set()
