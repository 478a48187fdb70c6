"""Map a UTC day (a Dagster daily partition) to the blocks whose timestamps fall in it.

Dagster has no block-range partitions, so partitions are days and each day is resolved to its
block range by binary search on block timestamps (as opensource-observer/oso's cryo factory does).
Block timestamps never decrease, so the search is exact: the range is every block with
day_start <= timestamp < day_end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def first_block_at_or_after(timestamp_of: Callable[[int], int], moment: int, low: int, high: int) -> int:
    """The smallest block in [low, high] with timestamp >= moment, or high + 1 if there is none."""
    while low <= high:
        middle = (low + high) // 2
        if timestamp_of(middle) >= moment:
            high = middle - 1
        else:
            low = middle + 1
    return low


def day_block_range(
    timestamp_of: Callable[[int], int], day_start: datetime, day_end: datetime, head: int
) -> tuple[int, int] | None:
    """(first, last) block of [day_start, day_end) among blocks 0..head, or None when it has none."""
    start = int(day_start.astimezone(UTC).timestamp())
    end = int(day_end.astimezone(UTC).timestamp())
    first = first_block_at_or_after(timestamp_of, start, 0, head)
    last = first_block_at_or_after(timestamp_of, end, first, head) - 1
    return (first, last) if first <= last else None
