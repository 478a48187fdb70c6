"""Which active builders `GET /v1/indexer/builders` hands out, by `INTMAX_BUILDER_SELECTION_MODE`.

Every shuffle is Fisher-Yates driven by the operating system's CSPRNG (`secrets.SystemRandom`), so
a client cannot predict or steer which builders others are given. N = INTMAX_BLOCK_BUILDER_INDEXER_COUNT.

- RANDOM: up to N of all active builders.
- ALLOWLIST_ONLY: up to N allowlisted ones; none if no allowlisted builder is active.
- ALLOWLIST_PRIORITY: one builder: allowlisted with probability p (if any), otherwise one that is
  not (if any), otherwise allowlisted.
- GUARANTEED_ALLOWLIST (the default, what the original ran): min(M, #allowlisted) allowlisted
  builders, filled up to N from the rest of all active ones, in shuffled order. With an empty
  allowlist it is RANDOM.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from intmax_core.config_operations import BuilderSelectionMode

T = TypeVar("T")
_random = secrets.SystemRandom()


@dataclass(frozen=True)
class SelectionPolicy:
    mode: BuilderSelectionMode
    count: int  # N
    allowlist: frozenset[str]  # lowercase
    min_allowlist_count: int = 1  # M
    allowlist_probability: float = 0.5  # p


def shuffled(items: Sequence[T], rng: secrets.SystemRandom = _random) -> list[T]:
    """A uniformly random permutation (Fisher-Yates, walking down from the end)."""
    result = list(items)
    for i in range(len(result) - 1, 0, -1):
        j = rng.randrange(i + 1)
        result[i], result[j] = result[j], result[i]
    return result


def select_builders(
    builders: Sequence[tuple[str, str]], policy: SelectionPolicy, rng: secrets.SystemRandom = _random
) -> list[tuple[str, str]]:
    """Pick from active (address, url) pairs according to the policy."""
    allowed = [builder for builder in builders if builder[0].lower() in policy.allowlist]
    others = [builder for builder in builders if builder[0].lower() not in policy.allowlist]
    if policy.mode == "RANDOM":
        return shuffled(builders, rng)[: policy.count]
    if policy.mode == "ALLOWLIST_ONLY":
        return shuffled(allowed, rng)[: policy.count]
    if policy.mode == "ALLOWLIST_PRIORITY":
        if allowed and rng.random() < policy.allowlist_probability:
            return [allowed[rng.randrange(len(allowed))]]
        pool = others or allowed
        return [pool[rng.randrange(len(pool))]] if pool else []
    guaranteed = shuffled(allowed, rng)
    taken = guaranteed[: min(policy.min_allowlist_count, len(guaranteed))]
    rest = shuffled(guaranteed[len(taken) :] + others, rng)
    return shuffled(taken + rest[: max(policy.count - len(taken), 0)], rng)
