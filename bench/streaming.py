"""Delta coalescing: @connections posts per answer, and how long text is held back, per setting.

    .venv/bin/python bench/streaming.py [--answers 20] [--output bench/results/streaming.md]

Each answer runs through the real engine and Strands agent loop on a model that writes at a
stated pace: FRAGMENT_CHARS characters a fragment, fragments arriving at random intervals
(exponential, mean --interval-ms). The sender records every post. For each DELTA_MAX_WAIT_MS
setting it reports posts per answer, the delay coalescing adds to a fragment (its arrival to
the post carrying it) at p50, p99 and max, and time to the first delta. The answers of one
setting run concurrently (the model only sleeps), so a run takes seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import time
from collections.abc import AsyncIterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from strands.models.model import Model

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics import AnalyticsRecorder
from chatbot.clock import SystemClock
from chatbot.conversations import ConversationStore
from chatbot.engine.engine import AnswerPolicy, ChatbotEngine
from chatbot.engine.streaming import StreamingPolicy
from chatbot.ports import EngineRequest

ANSWER_CHARS = 1500  # about 350 tokens: a paragraph-sized answer with a list in it
FRAGMENT_CHARS = 12  # about three tokens, what a ConverseStream delta often carries
SETTINGS_MS = (0, 50, 100, 200, 500)


class PacedModel(Model):
    """Streams a fixed answer in small fragments at random intervals."""

    def __init__(self, interval: float, seed: int) -> None:
        self._interval = interval
        self._random = random.Random(seed)
        self.arrivals: list[float] = []

    def update_config(self, **model_config: Any) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {"model_id": "paced"}

    def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("not supported")

    async def stream(self, messages: Any, *args: Any, **kwargs: Any) -> AsyncIterable[Any]:
        text = ("lorem ipsum dolor " * (ANSWER_CHARS // 18 + 1))[:ANSWER_CHARS]
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockStart": {"start": {}}}
        for start in range(0, len(text), FRAGMENT_CHARS):
            await asyncio.sleep(self._random.expovariate(1 / self._interval))
            self.arrivals.append(time.monotonic())
            yield {"contentBlockDelta": {"delta": {"text": text[start : start + FRAGMENT_CHARS]}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}


class TimedSender:
    """Records when each delta was posted and how many characters of the answer it carried."""

    def __init__(self) -> None:
        self.posts: dict[str, list[tuple[float, int]]] = {}

    def post(self, connection_id: str, data: str) -> None:
        frame = json.loads(data)
        if frame["type"] == "delta":
            posted = (time.monotonic(), len(frame["content"]))
            self.posts.setdefault(connection_id, []).append(posted)

    def delete(self, connection_id: str) -> None:
        return None


async def run_setting(wait_ms: int, answers: int, interval: float) -> dict[str, float]:
    clock = SystemClock()
    tables = SQLiteTables(":memory:", clock=clock).tables()
    conversations = ConversationStore(tables.conversations, timedelta(days=1), clock=clock)
    sender = TimedSender()
    engines = []
    models = [PacedModel(interval, seed=n) for n in range(answers)]
    for n, model in enumerate(models):
        engine = ChatbotEngine(
            conversations=conversations,
            analytics=AnalyticsRecorder(tables.analytics, timedelta(days=1), clock=clock),
            sender=sender,
            model_for=lambda query_type, model=model: model,  # type: ignore[misc]
            policy=AnswerPolicy(streaming=StreamingPolicy(max_wait=wait_ms / 1000)),
            clock=clock,
        )
        conversations.add_user_message(f"s{n}", "m", "tell me a story")
        engines.append(engine)
    started = time.monotonic()
    firsts: list[float] = []

    async def one(n: int) -> None:
        request = EngineRequest(sessionId=f"s{n}", messageId="m", connectionId=f"c{n}")
        begun = time.monotonic()
        answer = await engines[n].process_message(request)
        assert answer is not None and len(answer.content) == ANSWER_CHARS
        firsts.append(sender.posts[f"c{n}"][0][0] - begun)

    await asyncio.gather(*(one(n) for n in range(answers)))
    delays = [
        delay
        for n, model in enumerate(models)
        for delay in added_delays(model.arrivals, sender.posts[f"c{n}"])
    ]
    elapsed = time.monotonic() - started
    posts = [len(sent) for sent in sender.posts.values()]
    delays.sort()
    return {
        "wait_ms": wait_ms,
        "posts": statistics.mean(posts),
        "fragments": ANSWER_CHARS / FRAGMENT_CHARS,
        "p50": delays[len(delays) // 2] * 1000,
        "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000,
        "max": delays[-1] * 1000,
        "first": statistics.median(firsts) * 1000,
        "seconds": elapsed,
    }


def added_delays(arrivals: list[float], posts: list[tuple[float, int]]) -> list[float]:
    """For each fragment, the time from its arrival to the post that carried its last
    character (fragments are FRAGMENT_CHARS long, in order; posts carry the text in order)."""
    delays = []
    post_index, carried = 0, posts[0][1]
    for number, arrived in enumerate(arrivals):
        end = min((number + 1) * FRAGMENT_CHARS, ANSWER_CHARS)
        while carried < end:
            post_index += 1
            carried += posts[post_index][1]
        delays.append(posts[post_index][0] - arrived)
    return delays


def table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| DELTA_MAX_WAIT_MS | posts per answer | fragments per answer "
        "| added delay p50 / p99 / max | first delta after | run |",
        "| ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['wait_ms']:.0f} | {row['posts']:.1f} | {row['fragments']:.0f} "
            f"| {row['p50']:.0f} / {row['p99']:.0f} / {row['max']:.0f} ms "
            f"| {row['first']:.0f} ms | {row['seconds']:.1f} s |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument(
        "--interval-ms", type=float, default=40.0, help="mean time between fragments"
    )
    parser.add_argument("--output", type=Path, help="append the results to this file")
    args = parser.parse_args()
    rows = [
        asyncio.run(run_setting(wait, args.answers, args.interval_ms / 1000))
        for wait in SETTINGS_MS
    ]
    report = table(rows)
    print(report)
    if args.output:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with args.output.open("a") as out:
            out.write(
                f"\n## {stamp}, {platform.machine()}, Python {platform.python_version()}\n\n"
                f"`bench/streaming.py --answers {args.answers} --interval-ms "
                f"{args.interval_ms:g}`: {ANSWER_CHARS}-character answers in "
                f"{FRAGMENT_CHARS}-character fragments.\n\n{report}\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
