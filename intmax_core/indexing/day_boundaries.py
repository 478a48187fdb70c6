"""The first block of each UTC day on a chain: what maps a daily partition to its blocks.

Dagster has no block-range partitions, so partitions are days, and a day is the blocks with
day_start <= timestamp < day_end. Block timestamps never decrease, so a binary search on them is
exact (as opensource-observer/oso's cryo factory maps its partitions). Finding a boundary takes
about log2(head) sequential header requests (~25 on L1 today). A boundary at or below the safe
head never changes, so it is stored in `chain_day_boundaries` the first time it is found and read
from there afterwards; the search for a new day is also narrowed by the boundaries known around it.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from intmax_core.chain.blocks import get_block_headers
from intmax_core.chain.rpc import RpcClient
from intmax_core.warehouse.schema import chain_day_boundaries


def first_block_at_or_after(timestamp_of: Callable[[int], int], moment: int, low: int, high: int) -> int:
    """The smallest block in [low, high] with timestamp >= moment, or high + 1 if there is none."""
    while low <= high:
        middle = (low + high) // 2
        if timestamp_of(middle) >= moment:
            high = middle - 1
        else:
            low = middle + 1
    return low


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp())


class DayBoundaries:
    """Day boundaries of one chain among its final blocks (0..safe_head)."""

    def __init__(self, engine: Engine, client: RpcClient, chain_id: int, safe_head: int) -> None:
        self.engine = engine
        self.client = client
        self.chain_id = chain_id
        self.safe_head = safe_head
        self.header_requests = 0
        self._known: dict[date, int] = {}
        self._loaded = False

    def first_block(self, day: date) -> int | None:
        """The first final block whose timestamp is at or after `day` 00:00 UTC; None if none is final yet."""
        self._load()
        if day in self._known:
            return self._known[day]
        days = sorted(self._known)
        position = bisect.bisect_left(days, day)
        # Timestamps never decrease: the boundary lies between the known boundaries around the day.
        low = self._known[days[position - 1]] if position > 0 else 0
        high = min(self._known[days[position]], self.safe_head) if position < len(days) else self.safe_head
        found = first_block_at_or_after(self._timestamp, midnight(day), low, high)
        if found > self.safe_head:
            return None
        self._store(day, found)
        return found

    def block_range(self, day: date, until: date | None = None) -> tuple[int, int] | None:
        """(first, last) final block of the days [day, until) (default: `day` alone); None if none is final yet."""
        first = self.first_block(day)
        if first is None:
            return None
        following = self.first_block(until or day + timedelta(days=1))
        last = self.safe_head if following is None else following - 1
        return (first, last) if first <= last else None

    def _timestamp(self, number: int) -> int:
        self.header_requests += 1
        return get_block_headers(self.client, [number])[number].timestamp

    def _load(self) -> None:
        if self._loaded:
            return
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(chain_day_boundaries.c.day, chain_day_boundaries.c.first_block).where(
                    chain_day_boundaries.c.chain_id == self.chain_id,
                    chain_day_boundaries.c.first_block <= self.safe_head,
                )
            )
            self._known = {day: block for day, block in rows}
        self._loaded = True

    def _store(self, day: date, first_block: int) -> None:
        self._known[day] = first_block
        with self.engine.begin() as connection, contextlib.suppress(IntegrityError), connection.begin_nested():
            # Another run may have stored the same (final, hence equal) boundary first.
            connection.execute(
                insert(chain_day_boundaries).values(chain_id=self.chain_id, day=day, first_block=first_block)
            )
