"""Answer text to the client as ``delta`` frames, coalesced so an answer costs few posts.

A model streams text in small fragments (a few characters each, tens a second). Posting each
as its own frame costs one @connections request apiece, which in Lambda is a blocking HTTPS
call and a charge. So fragments are held and sent together: the first fragment of an answer
at once (it is what the user waits for), then whatever has gathered once the oldest held text
has waited ``max_wait`` seconds or ``max_chars`` characters have gathered, and the rest when
the answer ends. The concatenation of the frames is the answer, in order, with no gaps in the
frame index (PROTOCOL.md). A frame the connection refuses as too large is sent again as two.

An answer's text is bounded (``max_bytes``, its size inside JSON) so that its final
``message`` frame fits API Gateway's frame limit: text past the bound is dropped and a note
says so, in the deltas as in the stored answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from chatbot.ports import ConnectionGoneError, ConnectionSender, FrameTooLargeError
from chatbot.server_frames import ANSWER_CUT_NOTE, MAX_ANSWER_CONTENT_BYTES, DeltaFrame, json_bytes

logger = Logger(service="chatbot", child=True)


@dataclass(frozen=True)
class StreamingPolicy:
    """How long text may be held back, and how much may gather, before it is posted."""

    max_wait: float = 0.1
    max_chars: int = 1000
    # Most bytes an answer's text takes in JSON (the note that it was cut included).
    max_bytes: int = MAX_ANSWER_CONTENT_BYTES

    def __post_init__(self) -> None:
        if self.max_wait < 0 or self.max_chars < 1:
            raise ValueError("max_wait must be >= 0 and max_chars >= 1")
        if self.max_bytes < 2 * json_bytes(ANSWER_CUT_NOTE):
            raise ValueError("max_bytes leaves no room for an answer")


@dataclass
class StreamStats:
    """What the coalescing cost: posts made, and how long text waited to be posted."""

    fragments: int = 0
    posts: int = 0
    # Per fragment: seconds from its arrival to the post that carried it.
    delays: list[float] = field(default_factory=list)


class DeltaStream:
    """Collects an answer's text and posts it as numbered ``delta`` frames until the client
    goes away (then the text is still collected: the answer is stored and sent as history)."""

    def __init__(
        self,
        sender: ConnectionSender,
        connection_id: str,
        message_id: str,
        policy: StreamingPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._connection_id = connection_id
        self._message_id = message_id
        self._policy = policy or StreamingPolicy()
        self._clock = clock
        self._text: list[str] = []
        # Fragments not yet posted, with the time each arrived.
        self._held: list[tuple[str, float]] = []
        self._held_chars = 0
        self._bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self.client_gone = False
        # Set once the text reached ``max_bytes``: later fragments are dropped.
        self.cut = False
        self.stats = StreamStats()

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def posted(self) -> bool:
        """Whether any text has reached the client (a retry would then repeat it)."""
        return self.stats.posts > 0

    def push(self, fragment: str) -> None:
        if not fragment or self.cut:
            return
        size = json_bytes(fragment)
        room = self._policy.max_bytes - json_bytes(ANSWER_CUT_NOTE) - self._bytes
        if size > room:
            fragment = _prefix_within(fragment, room) + ANSWER_CUT_NOTE
            self.cut = True
        self._bytes += json_bytes(fragment)
        self._text.append(fragment)
        self.stats.fragments += 1
        self._held.append((fragment, self._clock()))
        self._held_chars += len(fragment)
        if self.stats.posts == 0 or self._held_chars >= self._policy.max_chars or self.cut:
            self.flush()
        elif self._timer is None:
            self._schedule_flush()

    def flush(self) -> None:
        """Post everything held now, in frames of at most ``max_chars`` characters."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._held:
            return
        text = "".join(fragment for fragment, _ in self._held)
        now = self._clock()
        self.stats.delays.extend(now - arrived for _, arrived in self._held)
        self._held.clear()
        self._held_chars = 0
        limit = self._policy.max_chars
        for start in range(0, len(text), limit):
            self._post(text[start : start + limit])

    def close(self) -> None:
        """The answer is complete: post what is still held."""
        self.flush()

    def _schedule_flush(self) -> None:
        if self._policy.max_wait == 0:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No event loop to wake us: nothing may wait.
            self.flush()
            return
        self._timer = loop.call_later(self._policy.max_wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def _post(self, content: str) -> None:
        if self.client_gone:
            self.stats.posts += 1
            return
        frame = DeltaFrame(messageId=self._message_id, index=self.stats.posts, content=content)
        try:
            self._sender.post(self._connection_id, frame.to_json())
        except ConnectionGoneError:
            # The answer is still stored: the client gets it from history or by resending.
            self.client_gone = True
        except FrameTooLargeError as error:
            if len(content) > 1:
                # A connection with a smaller limit than the one max_chars is set for: the
                # same text in two frames, the index still without gaps.
                middle = len(content) // 2
                self._post(content[:middle])
                self._post(content[middle:])
                return
            logger.warning(
                "delta too large for the connection",
                extra={"messageId": self._message_id, "limit": error.limit},
            )
            self.client_gone = True
        except Exception as error:
            # A sender that fails otherwise (throttled, timed out) gets no more deltas: the
            # answer goes on, is stored, and its final frame is still tried.
            logger.warning(
                "delta not sent",
                extra={"messageId": self._message_id, "error": type(error).__name__},
            )
            self.client_gone = True
        self.stats.posts += 1


def _prefix_within(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose JSON bytes are at most ``max_bytes``."""
    used = 0
    for index, character in enumerate(text):
        used += json_bytes(character)
        if used > max_bytes:
            return text[:index]
    return text
