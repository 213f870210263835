"""The engine's hold on the question it answers: taken at the start, renewed while it works.

A question being answered carries a lease (``ConversationStore.take_lease``). While the
engine works it renews the lease every ``renew_every`` seconds: at each event the model
streams once that much time has passed on the injected clock, and from a heartbeat task for
the silent stretches (a tool call, a model retry's backoff). If the engine dies the lease
lapses within seconds, and the user's resend starts a new attempt. If a renewal finds that
another attempt took the question over, this one stops without answering: one answer each.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from aws_lambda_powertools import Logger

from chatbot.clock import Clock
from chatbot.conversations import ConversationStore

logger = Logger(service="chatbot", child=True)


class LeaseLostError(Exception):
    """Another attempt holds the question now: this one must neither answer nor fail it."""


class AnswerLeaseKeeper:
    def __init__(
        self,
        conversations: ConversationStore,
        session_id: str,
        message_id: str,
        holder: str,
        clock: Clock,
    ) -> None:
        self._conversations = conversations
        self._session_id = session_id
        self._message_id = message_id
        self.holder = holder
        self._clock = clock
        self._renew_every = conversations.lease.renew_every
        self._due = clock.monotonic() + self._renew_every
        self.lost = False
        self._heartbeat: asyncio.Task[None] | None = None

    def check(self) -> None:
        """Renew the lease if it is due; LeaseLostError if another attempt took over."""
        if not self.lost and self._clock.monotonic() >= self._due:
            self.renew()
        if self.lost:
            raise LeaseLostError(self._message_id)

    def renew(self) -> None:
        """Renew now. A store that fails to answer is logged and tried again at the next
        renewal: the answer goes on, and the lease lapses only if the store stays down."""
        self._due = self._clock.monotonic() + self._renew_every
        try:
            held = self._conversations.renew_lease(self._session_id, self._message_id, self.holder)
        except Exception as error:
            logger.warning(
                "answer lease not renewed",
                extra={"messageId": self._message_id, "error": type(error).__name__},
            )
            return
        if not held:
            logger.info(
                "answer taken over by a newer attempt", extra={"messageId": self._message_id}
            )
            self.lost = True

    def start_heartbeat(self) -> None:
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def stop_heartbeat(self) -> None:
        if self._heartbeat is None:
            return
        self._heartbeat.cancel()
        with suppress(asyncio.CancelledError):
            await self._heartbeat
        self._heartbeat = None

    async def _beat(self) -> None:
        while not self.lost:
            await asyncio.sleep(max(0.05, self._due - self._clock.monotonic()))
            if self._clock.monotonic() >= self._due:
                self.renew()
