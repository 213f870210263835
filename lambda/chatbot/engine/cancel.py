"""Whether the user asked to stop the answer being written (the ``cancel`` action).

The websocket handler and the engine are different Lambda invocations in AWS, so the request
travels through the store: the handler marks the stored question (``cancelRequested``) and
the engine reads that mark between deltas, at most every ``every`` seconds on the injected
clock (one strongly consistent read; never per token). Once it is seen the engine stops the
agent (``Agent.cancel``) and stores what was written so far, marked stopped.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from chatbot.clock import Clock
from chatbot.conversations import ConversationStore

logger = Logger(service="chatbot", child=True)

CANCEL_CHECK_SECONDS = 0.5


class CancelWatch:
    def __init__(
        self,
        conversations: ConversationStore,
        session_id: str,
        message_id: str,
        clock: Clock,
        every: float = CANCEL_CHECK_SECONDS,
    ) -> None:
        self._conversations = conversations
        self._session_id = session_id
        self._message_id = message_id
        self._clock = clock
        self._every = every
        # The first look is due at once: a cancel sent before the engine started counts.
        self._due = clock.monotonic()
        self.stopped = False

    def requested(self) -> bool:
        """Whether the answer must stop: reads the store if a look is due, else what the
        last look found. A store that fails to answer is logged; the answer goes on."""
        if self.stopped or self._clock.monotonic() < self._due:
            return self.stopped
        self._due = self._clock.monotonic() + self._every
        try:
            self.stopped = self._conversations.cancel_requested(self._session_id, self._message_id)
        except Exception as error:
            logger.warning(
                "cancel not checked",
                extra={"messageId": self._message_id, "error": type(error).__name__},
            )
        if self.stopped:
            logger.info("answer stopped by the user", extra={"messageId": self._message_id})
        return self.stopped
