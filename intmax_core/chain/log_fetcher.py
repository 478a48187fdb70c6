"""eth_getLogs over a block range in chunks whose size adapts to what the provider accepts.

The range grows after each success and shrinks when the provider refuses a request for its
size (too many results, too wide a range, too large a response) or times out; a range the
provider suggests in its error message is used directly (see range_hints). Chunks are yielded
in block order, so a caller can write each one and checkpoint before the next is fetched.

A block cap the provider states (a plan limit, not a fit to one query's data) lowers the maximum
for good; the caller can persist it (`on_cap_learned`) and start the next run from it
(`learned_cap`), so that each run does not pay the refusal again.

A response of `max_logs_per_chunk` logs or more is refetched as a smaller range: more means a
node without a result cap returned a dense range whole, exactly as many may mean a provider cut
the result at its cap without saying so. `max_logs_per_chunk` must therefore not exceed the
result cap of any provider that truncates silently (10,000 for the common ones).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from intmax_core.chain.range_hints import RangeHint, is_oversized_request, suggested_range
from intmax_core.chain.rpc import RpcClient, RpcError, RpcTimeout

log = logging.getLogger(__name__)

# A first request of 2,000 blocks is accepted by every common provider (Ankr's cap is 3,000,
# Alchemy's free tier 2,000 with unlimited results) and covers hours of L1 or ~1 hour of a 2 s L2.
DEFAULT_INITIAL_RANGE = 2_000
# QuickNode and Chainstack (paid) cap eth_getLogs at 10,000 blocks, and Infura/Alchemy cap results
# at 10,000 logs; ranges beyond that rarely pay off.
DEFAULT_MAX_RANGE = 10_000
DEFAULT_MIN_RANGE = 1
# Fewer than this many logs per chunk: hosted providers cap a response at 10,000 results (some cut
# it there silently, so a response of exactly 10,000 may be incomplete), and a node without a cap
# (a local node, a self-hosted archive) would otherwise return a whole dense range at once, so that
# memory would grow with the range instead of staying per chunk.
DEFAULT_MAX_LOGS_PER_CHUNK = 10_000
# Growing by 1.5x after each full-size success: from the 2,000-block start the 10,000 cap is reached after
# four successes, and a range halved after an error regains its size in two. Ponder's 1.05x is
# tuned for one long backfill; here runs are short (a day partition), so recovery must be quick.
RANGE_GROWTH_FACTOR = 1.5
# Providers reject filters with long address lists (Alchemy, QuickNode: more than ~50 addresses
# per eth_getLogs); longer lists are split into several requests per chunk.
MAX_ADDRESSES_PER_REQUEST = 50


class PossiblyTruncatedLogs(RuntimeError):
    """A range that cannot be split any further came back with exactly `max_logs_per_chunk` logs.

    That is how a provider that cuts results at its cap without an error answers, so the logs may
    be incomplete, and accepting them would lose events silently. Raised rather than accepted: a
    block (or minimum range) with that many matching logs is far beyond what the INTMAX2
    contracts emit, so the likely cause is a misconfiguration worth stopping for.
    """

    def __init__(self, client_name: str, from_block: int, to_block: int, count: int) -> None:
        blocks = f"block {from_block}" if from_block == to_block else f"blocks {from_block}..{to_block}"
        super().__init__(
            f"{client_name} eth_getLogs returned exactly {count} logs for {blocks}, the result cap, and the range "
            "cannot be split further: the provider may have truncated them. Use a provider without that cap, or "
            "raise max_logs_per_chunk if this node does not truncate."
        )
        self.from_block = from_block
        self.to_block = to_block
        self.count = count


# Called with (max_blocks, provider) when a provider's stated cap lowers the fetcher's maximum.
CapListener = Callable[[int, str], None]


class LogChunk(NamedTuple):
    """The logs of blocks from_block..to_block (inclusive), exactly as the node returned them."""

    from_block: int
    to_block: int
    logs: list[dict[str, Any]]


@dataclass
class FetchStats:
    """Counters of one fetcher, for Dagster metadata. `retries` counts requests repeated for the same start."""

    requests: int = 0
    chunks: int = 0
    logs: int = 0
    shrinks: int = 0
    grows: int = 0
    provider_hints_used: int = 0
    retries: int = 0
    timeouts: int = 0
    current_range: int = 0
    max_range: int = 0

    def as_metadata(self) -> dict[str, int]:
        return asdict(self)

    def merge(self, other: FetchStats) -> None:
        """Add another fetcher's counters (fetchers of one run's parallel segments); its ranges are the newest."""
        for name in ("requests", "chunks", "logs", "shrinks", "grows", "provider_hints_used", "retries", "timeouts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.current_range = other.current_range
        self.max_range = other.max_range if not self.max_range else min(self.max_range, other.max_range)


class LogFetcher:
    """Fetches logs chunk by chunk for one chain's client, remembering the range that works between calls.

    One fetcher per stream (or per provider and contract set): the range it learns reflects the
    provider's limits and that stream's log density. Not for concurrent use by several threads.

    `learned_cap` is a block cap learned earlier (from the warehouse): it lowers `max_range` and
    `initial_range` from the start. `on_cap_learned(max_blocks, provider)` is called each time a
    provider's stated cap lowers the maximum (once per provider and run, as a rule), from the
    thread that iterates `fetch`; an exception it raises is logged, not propagated: a cap that was
    not recorded costs the next run one refused request, a failed fetch would cost this whole run.
    """

    def __init__(
        self,
        client: RpcClient,
        *,
        initial_range: int = DEFAULT_INITIAL_RANGE,
        min_range: int = DEFAULT_MIN_RANGE,
        max_range: int = DEFAULT_MAX_RANGE,
        max_logs_per_chunk: int = DEFAULT_MAX_LOGS_PER_CHUNK,
        learned_cap: int | None = None,
        on_cap_learned: CapListener | None = None,
    ) -> None:
        if not 1 <= min_range <= initial_range <= max_range:
            raise ValueError("eth_getLogs ranges need 1 <= min_range <= initial_range <= max_range")
        if max_logs_per_chunk < 1:
            raise ValueError("max_logs_per_chunk must be at least 1")
        self.client = client
        self.min_range = min_range
        self.max_logs_per_chunk = max_logs_per_chunk
        self._on_cap_learned = on_cap_learned
        # Lowered for good when a provider states a plan cap below the configured maximum. A learned
        # cap below min_range still leaves min_range: requests never get smaller than that anyway.
        self._max_range = max_range if learned_cap is None else max(min_range, min(max_range, learned_cap))
        self._range = min(initial_range, self._max_range)
        self.stats = FetchStats(current_range=self._range, max_range=self._max_range)

    @property
    def max_range(self) -> int:
        """The largest range this fetcher will request (lowered by a provider's stated cap)."""
        return self._max_range

    @property
    def current_range(self) -> int:
        return self._range

    def fetch(
        self, addresses: Sequence[str], topics0: Sequence[str], from_block: int, to_block: int
    ) -> Iterator[LogChunk]:
        """Chunks covering from_block..to_block (inclusive) in order, with no gap and no overlap.

        Selects logs of `addresses` whose topic0 is one of `topics0` (all topics if empty).
        Raises RpcError when the node rejects even a minimum-size request or rejects a request
        for anything but its size (an invalid range, say), RpcUnavailable when the client's
        retries are exhausted, PossiblyTruncatedLogs when a minimum-size range comes back with
        exactly `max_logs_per_chunk` logs.
        """
        # Validated here, not at the first next(): a generator would report a bad query late.
        return self._chunks(_LogQuery.of(addresses, topics0), from_block, to_block)

    def _chunks(self, query: _LogQuery, from_block: int, to_block: int) -> Iterator[LogChunk]:
        start = from_block
        while start <= to_block:
            span = min(self._range, to_block - start + 1)
            end = start + span - 1
            logs = self._logs_or_none(query, start, end, span)
            if logs is not None and self._must_split(start, end, span, len(logs)):
                logs = None
            if logs is None:
                self.stats.retries += 1
                continue
            self.stats.chunks += 1
            self.stats.logs += len(logs)
            yield LogChunk(start, end, logs)
            start = end + 1
            # A chunk cut short by to_block proves nothing about the full range.
            if span == self._range:
                self._grow()

    def _must_split(self, start: int, end: int, span: int, count: int) -> bool:
        """Whether `count` logs for start..end are to be refetched as a smaller range (already set)."""
        if count < self.max_logs_per_chunk:
            return False
        possibly_truncated = count == self.max_logs_per_chunk
        if span <= self.min_range:
            if possibly_truncated:
                raise PossiblyTruncatedLogs(self.client.name, start, end, count)
            # More than the cap: this node does not cut at the cap, so the response is complete; only
            # the per-chunk memory bound is exceeded, for one range that cannot be made smaller.
            return False
        if possibly_truncated:
            # The true count is unknown (the cap or more): the density seen says nothing, so halve.
            self._shrink_to(span // 2)
        else:
            # Complete but too dense to hold at once: size the range to the density just seen, aiming
            # below the cap so that the refetch does not land on it exactly.
            self._shrink_to(span * (self.max_logs_per_chunk - 1) // count)
        return True

    def _logs_or_none(self, query: _LogQuery, start: int, end: int, span: int) -> list[dict[str, Any]] | None:
        """The logs of start..end, or None after adapting the range to an error (the caller retries)."""
        at_minimum = span <= self.min_range
        try:
            return self._get_logs(query, start, end, retry_timeouts=at_minimum)
        except RpcTimeout:
            # A minimum-size request is retried like any other call (retry_timeouts=True above), so a
            # timeout only lands here while there is still room to shrink.
            self.stats.timeouts += 1
            self._shrink(span, None)
            return None
        except RpcError as error:
            if not is_oversized_request(error.message):
                # Not about size (an invalid or not yet available range, a bad filter): no smaller
                # request would fare better. The range goes into the traceback, not the message.
                error.add_note(f"{self.client.name} eth_getLogs over blocks {start}..{end}")
                raise
            hint = suggested_range(error.message, error.code, span)
            if at_minimum and (hint is None or hint.blocks >= span):
                raise
            self._shrink(span, hint)
            return None

    def _get_logs(self, query: _LogQuery, start: int, end: int, *, retry_timeouts: bool) -> list[dict[str, Any]]:
        logs: list[dict[str, Any]] = []
        for addresses in query.address_groups:
            log_filter: dict[str, Any] = {"address": addresses, "fromBlock": hex(start), "toBlock": hex(end)}
            if query.topics0:
                # One OR-list in position 0 and nothing after it: trailing nulls confuse some providers.
                log_filter["topics"] = [query.topics0]
            self.stats.requests += 1
            logs.extend(self.client.call("eth_getLogs", [log_filter], retry_timeouts=retry_timeouts))
        if len(query.address_groups) > 1:
            logs.sort(key=lambda entry: (int(entry["blockNumber"], 16), int(entry["logIndex"], 16)))
        return logs

    def _shrink(self, span: int, hint: RangeHint | None) -> None:
        if hint is not None and hint.is_cap:
            self._lower_max_range(hint.blocks, hint.provider)
        if hint is not None and hint.blocks < span:
            new_range = hint.blocks
            self.stats.provider_hints_used += 1
        else:
            # No hint, or one that would not make the request smaller: halve.
            new_range = span // 2
        self._range = max(self.min_range, min(new_range, self._max_range))
        self.stats.shrinks += 1
        self.stats.current_range = self._range
        log.info(
            "%s eth_getLogs: %d blocks refused%s; next range %d",
            self.client.name,
            span,
            f" ({hint.provider} suggests {hint.blocks})" if hint else "",
            self._range,
        )

    def _lower_max_range(self, blocks: int, provider: str) -> None:
        capped = max(self.min_range, min(self._max_range, blocks))
        if capped >= self._max_range:
            return
        self._max_range = capped
        self.stats.max_range = capped
        if self._on_cap_learned is None:
            return
        try:
            self._on_cap_learned(capped, provider)
        except Exception:
            log.warning("%s: could not record the eth_getLogs cap %d", self.client.name, capped, exc_info=True)

    def _shrink_to(self, blocks: int) -> None:
        self._range = max(self.min_range, min(blocks, self._max_range))
        self.stats.shrinks += 1
        self.stats.current_range = self._range

    def _grow(self) -> None:
        grown = min(self._max_range, math.ceil(self._range * RANGE_GROWTH_FACTOR))
        if grown > self._range:
            self._range = grown
            self.stats.grows += 1
            self.stats.current_range = grown


@dataclass(frozen=True)
class _LogQuery:
    address_groups: list[list[str]]
    topics0: list[str]

    @classmethod
    def of(cls, addresses: Sequence[str], topics0: Sequence[str]) -> _LogQuery:
        unique = list(dict.fromkeys(address.lower() for address in addresses))
        if not unique:
            # Every INTMAX2 stream is a contract set; an unfiltered query would scan the whole chain.
            raise ValueError("eth_getLogs needs at least one address")
        groups = [
            unique[start : start + MAX_ADDRESSES_PER_REQUEST]
            for start in range(0, len(unique), MAX_ADDRESSES_PER_REQUEST)
        ]
        return cls(groups, list(dict.fromkeys(topic.lower() for topic in topics0)))


def fetch_logs(
    client: RpcClient,
    addresses: Sequence[str],
    topics0: Sequence[str],
    from_block: int,
    to_block: int,
    **ranges: int,
) -> Iterator[LogChunk]:
    """One-shot form of LogFetcher(client, **ranges).fetch(...); a LogFetcher keeps the learned range across calls."""
    return LogFetcher(client, **ranges).fetch(addresses, topics0, from_block, to_block)
