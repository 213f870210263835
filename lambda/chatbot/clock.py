"""The one source of time: every component that reads the time is handed a ``Clock``.

The runtime builds one ``SystemClock`` per process and passes it to everything it wires; a
test passes its own. No other module reads the system clock for a moment that is stored,
compared or sent, so the whole system can be run at any date and time of day.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC: what is stamped and compared."""
        ...

    def time(self) -> float:
        """Seconds since the epoch: what DynamoDB-style TTL attributes are compared with."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: deadlines and time budgets."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
