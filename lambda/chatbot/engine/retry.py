"""Model calls retried on throttling and transient errors, within the time the answer has.

Strands' ``ModelRetryStrategy`` backs off on throttling with fixed doubling delays of seconds
to minutes, with no jitter and no notion of a deadline. A Lambda function has a hard timeout:
a retry that cannot finish before it only turns a clear ``MODEL_UNAVAILABLE`` into a killed
invocation. This strategy retries throttling and transient failures with exponential backoff
and full jitter (a random delay up to the backoff, so many clients throttled together do not
return together), and gives up early when the next attempt would not fit in the time left.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from strands.event_loop._retry import ModelRetryStrategy
from strands.hooks import AfterInvocationEvent, AfterModelCallEvent, HookRegistry
from strands.types.exceptions import ModelThrottledException

from chatbot.retries import TRANSIENT_ERROR_CODES, backoff_ceiling

logger = Logger(service="chatbot", child=True)

# Exception class names of the model clients (botocore, httpx under Ollama's client, openai)
# that mean "try again"; names, not imports: not every client is installed everywhere. AWS
# error codes are chatbot.retries.TRANSIENT_ERROR_CODES.
TRANSIENT_EXCEPTION_NAMES = frozenset(
    {
        # botocore
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        # httpx (Ollama's client)
        "TransportError",
        # openai
        "APIConnectionError",
        "APITimeoutError",
        "InternalServerError",
        "RateLimitError",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # An attempt started with less time than this left would not finish: give up instead.
    min_attempt_seconds: float = 5.0


def is_transient(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, says the call may work if repeated."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ModelThrottledException):
            return True
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code in TRANSIENT_ERROR_CODES:
                return True
        if any(kind.__name__ in TRANSIENT_EXCEPTION_NAMES for kind in type(cause).__mro__):
            return True
        cause = cause.__cause__
    return False


class DeadlineRetryStrategy(ModelRetryStrategy):
    """Retries a failed model call when the failure is transient, nothing of the answer has
    reached the client yet (``may_retry``), attempts remain, and the deadline allows."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        deadline: float | None = None,
        may_retry: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(max_attempts=policy.max_attempts)
        self._policy = policy
        self._deadline = deadline
        self._may_retry = may_retry
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._failures = 0

    def is_retryable(self, exception: Exception) -> bool:
        return is_transient(exception)

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        registry.add_callback(AfterModelCallEvent, self._after_model_call)
        registry.add_callback(AfterInvocationEvent, self._after_invocation)

    def backoff(self, failures: int) -> float:
        """The longest wait after the ``failures``-th failure in a row (1, 2, ...)."""
        return backoff_ceiling(failures, self._policy.base_delay, self._policy.max_delay)

    async def _after_invocation(self, event: AfterInvocationEvent) -> None:
        self._failures = 0

    async def _after_model_call(self, event: AfterModelCallEvent) -> None:
        if event.retry:
            return  # another hook asked for it already
        if event.exception is None:
            self._failures = 0
            return
        if not self.is_retryable(event.exception) or not self._may_retry():
            return
        self._failures += 1
        if self._failures >= self._policy.max_attempts:
            logger.warning(
                "model still failing, giving up",
                extra={"attempts": self._failures, "error": type(event.exception).__name__},
            )
            return
        delay = self._jitter() * self.backoff(self._failures)
        if self._deadline is not None:
            left = self._deadline - self._clock()
            if left - delay < self._policy.min_attempt_seconds:
                logger.warning(
                    "no time left for another model attempt",
                    extra={"attempts": self._failures, "secondsLeft": round(left, 1)},
                )
                return
        logger.info(
            "model call failed, retrying",
            extra={
                "attempt": self._failures,
                "delaySeconds": round(delay, 3),
                "error": type(event.exception).__name__,
            },
        )
        await self._sleep(delay)
        event.retry = True
