"""How long to wait before retrying a transient RPC failure: capped exponential backoff with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Five attempts at 0.25 s doubling give up after ~4 s of waiting in the worst case (0.25+0.5+1+2):
# long enough to ride out a provider's per-second rate limit or a node restart behind a load
# balancer, short enough that a dead chain surfaces as an error within one Dagster sensor tick.
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_BASE_SECONDS = 0.25
# Never wait longer than this between two attempts, however many attempts are allowed.
DEFAULT_BACKOFF_MAX_SECONDS = 8.0


@dataclass(frozen=True)
class BackoffPolicy:
    """Attempt budget and waiting times of one logical request.

    `max_attempts` counts every try, the first included. The wait before retry `n` (0-based) is drawn
    uniformly from [0, min(max_seconds, base_seconds * 2**n)] ("full jitter", AWS architecture
    blog 2015): several threads or processes that failed together then spread out instead of
    hitting the provider again in lockstep, which is what re-triggers its rate limit.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS
    max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("backoff times must not be negative")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number `retry` (0 = the first retry)."""
        # min() before the power would overflow: 2**retry grows without bound for large budgets.
        return min(self.max_seconds, self.base_seconds * 2 ** min(retry, 64))

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """A jittered wait in seconds before retry number `retry`."""
        return (rng or random).uniform(0.0, self.ceiling(retry))
