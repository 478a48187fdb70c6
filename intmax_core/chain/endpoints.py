"""Which of a chain's RPC URLs to use next: configured order, minus the ones cooling down after a failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# A URL that failed transiently is skipped this long. Long enough that a rate-limited or restarting
# provider is not hammered by every request in the meantime, short enough that the preferred
# (usually first, paid) URL is back in use within a minute of recovering.
DEFAULT_COOLDOWN_SECONDS = 30.0


class EndpointPool:
    """Failover state of the URLs of one chain, shared by every thread using the same client.

    Endpoints are known by their 0-based index only; `label(index)` is how they appear in messages
    ("url #1" for the first), because URLs carry provider API keys.
    """

    def __init__(
        self,
        count: int,
        cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1:
            raise ValueError("an endpoint pool needs at least one endpoint")
        self.count = count
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._cooling_until = [0.0] * count
        self._lock = threading.Lock()

    @staticmethod
    def label(index: int) -> str:
        return f"url #{index + 1}"

    def pick(self) -> int:
        """The first endpoint not cooling down; if all are, the one that recovers soonest."""
        now = self._clock()
        with self._lock:
            for index, until in enumerate(self._cooling_until):
                if until <= now:
                    return index
            return min(range(self.count), key=self._cooling_until.__getitem__)

    def is_available(self, index: int) -> bool:
        with self._lock:
            return self._cooling_until[index] <= self._clock()

    def mark_failed(self, index: int) -> None:
        with self._lock:
            self._cooling_until[index] = self._clock() + self.cooldown_seconds

    def mark_ok(self, index: int) -> None:
        with self._lock:
            self._cooling_until[index] = 0.0
