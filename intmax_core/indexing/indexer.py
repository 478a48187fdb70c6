"""Index one stream: fetch its logs over a block range, decode them in bulk, and write the typed
rows, the coverage and the cursor in one database transaction per chunk.

Only final blocks are indexed (the caller passes a range at or below the safe head). Writes are
"delete the window, insert": re-indexing a range replaces its rows, so runs, re-runs and
backfills are idempotent. A crash between chunks leaves every committed chunk complete with its
coverage, and the next run continues; a crash inside a chunk rolls that chunk back entirely.
Every transaction that writes a stream first takes the stream's lock (coverage.lock_stream), so
concurrent runs of one stream (the tail, backfills, a reorg repair) write one at a time.

Throughput: a background thread fetches the next chunk and decodes it (block headers included)
while the current one is written, so the node, the decoding and the database overlap.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, delete, select, union
from sqlalchemy.sql.elements import ColumnElement

from intmax_core.chain.blocks import get_block_headers
from intmax_core.chain.log_fetcher import DEFAULT_INITIAL_RANGE, DEFAULT_MAX_RANGE, FetchStats, LogFetcher
from intmax_core.chain.rpc import RpcClient
from intmax_core.indexing import coverage
from intmax_core.indexing.bulk_insert import PreparedRows, prepare_rows, write_prepared
from intmax_core.indexing.coverage import BlockRange
from intmax_core.indexing.streams import StreamSource
from intmax_core.warehouse.event_tables import EVENT_TABLES, emitted_by
from intmax_core.warehouse.schema import stream_ranges

# Segments fetched and decoded ahead while the oldest is written. Two in flight beat one on a
# local anvil (benchmarks/indexing.py): a node's wait overlaps the other segment's decoding.
PARALLEL_FETCHES = 2
# Reorgs are shallow; when looking for the common ancestor we compare stored blocks with the
# chain this many at a time (one batched header request each).
ANCESTOR_BATCH = 64


class _FrozenHeap:
    """Keep the garbage collector's full passes off the objects that exist before indexing starts.

    Decoding a chunk allocates a few hundred thousand objects (parsed JSON, row tuples), which
    triggers collections; each full pass also scans every older object of the process, and a run
    worker holds millions (Dagster, SQLAlchemy, web3). Freezing them (gc.freeze) leaves the passes
    only the young objects: measured, about a fifth of indexing time. The thresholds stay as they
    are, so cyclic garbage is still collected and memory stays flat per chunk (raising them too was
    measured: no faster, and memory crept up chunk by chunk). Reentrant; the last user unfreezes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                gc.freeze()
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                gc.unfreeze()


frozen_heap = _FrozenHeap()


@dataclass
class _PreparedChunk:
    blocks: BlockRange
    rows: list[PreparedRows]  # one per table of the stream
    counts: Counter[str]


class ChainBehindIndex(RuntimeError):
    """The node's head is below blocks we indexed: a lagging node, not a reason to delete data."""


class ReorgDuringFetch(RuntimeError):
    """A log's block hash differs from the header fetched for it: the chain moved under us."""


@dataclass
class IndexStats:
    from_block: int | None = None
    to_block: int | None = None
    chunks: int = 0
    events: Counter[str] = field(default_factory=Counter)
    reorg_rollback_to: int | None = None
    rows_deleted_by_reorg: int = 0
    seconds: float = 0.0
    fetch: FetchStats | None = None

    @property
    def blocks(self) -> int:
        return 0 if self.from_block is None or self.to_block is None else self.to_block - self.from_block + 1


def safe_head(client: RpcClient, confirmations: int) -> int:
    """The newest block we treat as final: `confirmations` below the head."""
    return max(client.block_number() - confirmations, -1)


class StreamIndexer:
    def __init__(self, engine: Engine, client: RpcClient, chain_id: int, source: StreamSource, **fetcher: Any) -> None:
        self.engine = engine
        self.client = client
        self.chain_id = chain_id
        self.source = source
        self.stream = source.stream
        self.tables = [EVENT_TABLES[event.name] for event in self.stream.events]
        self.by_topic = {event.topic0: (event, EVENT_TABLES[event.name]) for event in self.stream.events}
        # One LogFetcher per segment (segments are fetched in parallel); the range they learn is
        # shared through _range and the maximum, and their counters are summed in fetch_stats.
        self.fetcher_options: dict[str, Any] = {
            "initial_range": DEFAULT_INITIAL_RANGE,
            "max_range": DEFAULT_MAX_RANGE,
            **fetcher,
        }
        first = LogFetcher(client, **self.fetcher_options)  # validates the options, applies a learned cap
        self._range = first.current_range
        self.fetcher_options["max_range"] = first.max_range
        self.fetch_stats = FetchStats(current_range=self._range, max_range=first.max_range)
        self._stats_lock = threading.Lock()

    # --- reorgs ----------------------------------------------------------------------------
    def repair_reorg(self, stats: IndexStats) -> None:
        """If the newest indexed block is no longer canonical, roll back to the common ancestor."""
        with self.engine.connect() as connection:
            top = coverage.tip(connection, self.stream.name, self.chain_id)
        if top is None:
            return
        head = self.client.block_number()
        if top.to_block > head:
            raise ChainBehindIndex(
                f"{self.client.name} head {head} is below block {top.to_block} indexed by {self.stream.name}; "
                "is the node lagging? Nothing was rolled back"
            )
        if self._chain_hashes([top.to_block])[top.to_block] == top.to_block_hash:
            return
        ancestor = self._common_ancestor(top.to_block)
        with self.engine.begin() as connection:
            coverage.lock_stream(connection, self.stream.name, self.chain_id)
            for table in self.tables:
                result = connection.execute(
                    delete(table).where(self.rows_of(table), table.c.block_number > ancestor[0])
                )
                stats.rows_deleted_by_reorg += result.rowcount
            coverage.truncate_above(connection, self.stream.name, self.chain_id, *ancestor)
            coverage.refresh_cursor(connection, self.stream.name, self.chain_id, self.source.start_block)
        stats.reorg_rollback_to = ancestor[0]

    def _common_ancestor(self, below: int) -> tuple[int, str]:
        """The newest block we stored a hash for that the chain still has (all below it are canonical)."""
        with self.engine.connect() as connection:
            stored_blocks = union(
                *(
                    select(t.c.block_number, t.c.block_hash).where(self.rows_of(t), t.c.block_number < below)
                    for t in self.tables
                ),
                select(stream_ranges.c.to_block, stream_ranges.c.to_block_hash).where(
                    stream_ranges.c.stream == self.stream.name,
                    stream_ranges.c.chain_id == self.chain_id,
                    stream_ranges.c.to_block < below,
                ),
            ).subquery()
            candidates = connection.execute(
                select(stored_blocks.c.block_number, stored_blocks.c.block_hash).order_by(
                    stored_blocks.c.block_number.desc()
                )
            ).all()
        for start in range(0, len(candidates), ANCESTOR_BATCH):
            batch = candidates[start : start + ANCESTOR_BATCH]
            canonical = self._chain_hashes([number for number, _ in batch])
            for number, hash_ in batch:
                if canonical[number] == hash_:
                    return number, hash_
        # Nothing we stored survives: start again from the start block.
        before = self.source.start_block - 1
        return before, self._chain_hashes([before])[before] if before >= 0 else "0x" + "00" * 32

    def _chain_hashes(self, numbers: Iterable[int]) -> dict[int, str]:
        return {n: header.hash for n, header in get_block_headers(self.client, numbers).items()}

    def rows_of(self, table: Table) -> ColumnElement[bool]:
        return emitted_by(table, self.chain_id, self.source.address)

    # --- indexing --------------------------------------------------------------------------
    def index(self, from_block: int, to_block: int, stats: IndexStats | None = None) -> IndexStats:
        """Index [from_block, to_block] (clamped to the start block), replacing what was there."""
        stats = stats or IndexStats()
        started = time.perf_counter()
        from_block = max(from_block, self.source.start_block)
        if from_block <= to_block:
            stats.from_block = from_block if stats.from_block is None else min(stats.from_block, from_block)
            stats.to_block = to_block if stats.to_block is None else max(stats.to_block, to_block)
            with (
                frozen_heap,
                ThreadPoolExecutor(
                    max_workers=PARALLEL_FETCHES, thread_name_prefix=f"{self.stream.name}-fetch"
                ) as pool,
            ):
                for prepared in self._prepared_in_order(pool, from_block, to_block):
                    self._write_chunk(prepared)
                    stats.events.update(prepared.counts)
                    stats.chunks += 1
                    del prepared  # let the chunk go before the next one arrives
        stats.seconds += time.perf_counter() - started
        stats.fetch = self.fetch_stats
        return stats

    def _prepared_in_order(self, pool: ThreadPoolExecutor, from_block: int, to_block: int) -> Iterator[_PreparedChunk]:
        """The chunks of [from_block, to_block] in block order, fetched and prepared PARALLEL_FETCHES at a time.

        The range is cut into segments of the range the fetchers have learned so far; each segment
        is fetched (adapting its range to the provider as one LogFetcher does) and decoded by a pool
        thread. At most PARALLEL_FETCHES segments are in flight, so memory stays bounded.
        """
        pending: deque[Future[list[_PreparedChunk]]] = deque()
        start = from_block

        def refill() -> None:
            nonlocal start
            while start <= to_block and len(pending) < PARALLEL_FETCHES:
                end = min(to_block, start + self._range - 1)
                pending.append(pool.submit(self._fetch_segment, start, end))
                start = end + 1

        refill()
        while pending:
            oldest = pending.popleft().result()
            refill()  # before the caller writes `oldest`: the next segments are fetched meanwhile
            yield from oldest

    def _fetch_segment(self, from_block: int, to_block: int) -> list[_PreparedChunk]:
        options = {**self.fetcher_options, "initial_range": min(self._range, self.fetcher_options["max_range"])}
        fetcher = LogFetcher(self.client, **options)
        chunks = [
            self._prepare_chunk(*chunk)
            for chunk in fetcher.fetch([self.source.address], self.stream.topics0, from_block, to_block)
        ]
        with self._stats_lock:
            self.fetch_stats.merge(fetcher.stats)
            # What this segment learned (grown after successes, shrunk after refusals) sizes the next ones.
            self._range = fetcher.current_range
            self.fetcher_options["max_range"] = min(self.fetcher_options["max_range"], fetcher.max_range)
        return chunks

    def _prepare_chunk(self, chunk_from: int, chunk_to: int, logs: list[dict[str, Any]]) -> _PreparedChunk:
        """Decode a chunk's logs into the rows of each table, as the backend's bulk path takes them."""
        numbers = {int(log["blockNumber"], 16) for log in logs} | {chunk_to}
        headers = get_block_headers(self.client, numbers)
        times = {n: datetime.fromtimestamp(h.timestamp, UTC) for n, h in headers.items()}
        rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for log in logs:
            if log.get("removed"):
                continue
            event, table = self.by_topic[log["topics"][0]]
            number = int(log["blockNumber"], 16)
            block_hash = log["blockHash"]
            if headers[number].hash != block_hash:
                raise ReorgDuringFetch(f"block {number} changed while indexing {self.stream.name}; retry")
            # Column order of every event table: the common log columns, then the event's fields.
            rows[table.name].append(
                (
                    self.chain_id,
                    number,
                    int(log["logIndex"], 16),
                    block_hash,
                    times[number],
                    log["transactionHash"],
                    log["address"].lower(),
                    *event.values(log),
                )
            )
        counts = Counter({event.name: len(rows[table.name]) for event, table in self.by_topic.values()})
        dialect = self.engine.dialect.name
        prepared = [prepare_rows(dialect, table, rows[table.name]) for table in self.tables]
        return _PreparedChunk(BlockRange(chunk_from, chunk_to, headers[chunk_to].hash), prepared, counts)

    def _write_chunk(self, chunk: _PreparedChunk) -> None:
        indexed = chunk.blocks
        with self.engine.begin() as connection:
            coverage.lock_stream(connection, self.stream.name, self.chain_id)
            # Rows exist only where coverage says so (both are written together), so a range that
            # overlaps no indexed range has nothing to delete: the tail and first backfills skip it.
            replacing = coverage.overlaps(
                connection, self.stream.name, self.chain_id, indexed.from_block, indexed.to_block
            )
            for table in self.tables if replacing else ():
                connection.execute(
                    delete(table).where(
                        self.rows_of(table), table.c.block_number.between(indexed.from_block, indexed.to_block)
                    )
                )
            for rows in chunk.rows:
                write_prepared(connection, rows)
            coverage.add_range(connection, self.stream.name, self.chain_id, indexed)
            coverage.refresh_cursor(connection, self.stream.name, self.chain_id, self.source.start_block)

    def index_uncovered(self, from_block: int, to_block: int, stats: IndexStats | None = None) -> IndexStats:
        """Index only the parts of [from_block, to_block] not yet covered (the sensor's cheap path)."""
        stats = stats or IndexStats()
        with self.engine.connect() as connection:
            ranges = coverage.covered_ranges(connection, self.stream.name, self.chain_id)
        start = max(from_block, self.source.start_block)
        # A sentinel range just past to_block makes a hole that runs to the end show up as one.
        sentinel = BlockRange(to_block + 1, to_block + 1, "")
        for hole_from, hole_to in coverage.missing_ranges([*ranges, sentinel], start):
            if hole_from <= to_block:
                self.index(hole_from, min(hole_to, to_block), stats)
        return stats
