"""Audits of an indexed stream against the chain: what the indexing asset checks report.

Each audit compares stored data with something independent of it (the chain, or an invariant of
the contracts) and returns a verdict with a message that names what is wrong, so a failed check
in the Dagster UI says where to look. They read little: a handful of headers and single-block
log queries, and indexed lookups in the warehouse (never a scan of a whole event table).
"""

from __future__ import annotations

import enum
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from intmax_core.chain.blocks import get_block_headers
from intmax_core.chain.rpc import RpcClient
from intmax_core.indexing import coverage
from intmax_core.indexing.streams import StreamSource
from intmax_core.warehouse.event_tables import EVENT_TABLES, emitted_by
from intmax_core.warehouse.schema import check_watermarks, stream_ranges

# Newest stored blocks whose hashes are compared with the chain: a reorg deeper than the
# confirmations would change several of them, not only the tip.
RECENT_BLOCKS = 8
# Blocks whose log counts are compared with the chain: the newest indexed ones, in one request
# (small enough for any provider's range and result caps), and a few random indexed blocks.
RECENT_WINDOW_BLOCKS = 64
RANDOM_COVERED_BLOCKS = 2
# Problems listed in a failure message; the count is always given in full.
LISTED_PROBLEMS = 5


class Severity(enum.StrEnum):
    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Verdict:
    check_name: str
    passed: bool
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: Severity = Severity.ERROR


class StreamAuditor:
    """The audits of one stream on one chain."""

    def __init__(self, engine: Engine, client: RpcClient, chain_id: int, source: StreamSource) -> None:
        self.engine = engine
        self.client = client
        self.chain_id = chain_id
        self.source = source
        self.stream = source.stream
        self.tables = [EVENT_TABLES[event.name] for event in self.stream.events]

    def rows_of(self, table: Table) -> ColumnElement[bool]:
        return emitted_by(table, self.chain_id, self.source.address)

    def _hashes(self, numbers: list[int]) -> dict[int, str]:
        return {n: header.hash for n, header in get_block_headers(self.client, numbers).items()}

    # --------------------------------------------------------------------------- coverage

    def cursor_matches_chain(self) -> Verdict:
        with self.engine.connect() as connection:
            cursor = coverage.read_cursor(connection, self.stream.name, self.chain_id)
        if cursor is None:
            return Verdict("cursor_matches_chain", True, "no cursor yet", {"cursor_block": -1})
        chain_hash = self._hashes([cursor.block_number])[cursor.block_number]
        passed = chain_hash == cursor.block_hash
        message = (
            f"cursor block {cursor.block_number} is canonical"
            if passed
            else f"cursor block {cursor.block_number} has hash {cursor.block_hash} here but {chain_hash} on chain"
        )
        return Verdict("cursor_matches_chain", passed, message, {"cursor_block": cursor.block_number})

    def no_missing_block_ranges(self) -> Verdict:
        with self.engine.connect() as connection:
            ranges = coverage.covered_ranges(connection, self.stream.name, self.chain_id)
        holes = coverage.missing_ranges(ranges, self.source.start_block)
        listed = ", ".join(f"{a}..{b}" for a, b in holes[:LISTED_PROBLEMS])
        message = (
            f"every block from {self.source.start_block} to the highest indexed block is indexed"
            if not holes
            else f"{len(holes)} missing range(s) after start block {self.source.start_block}: {listed}"
        )
        metadata = {
            "missing_range_count": len(holes),
            "missing_blocks": sum(b - a + 1 for a, b in holes),
            "missing_ranges": listed or "none",
        }
        return Verdict("no_missing_block_ranges", not holes, message, metadata)

    def cursor_lag_blocks(self, safe_head: int, warn_above: int, error_above: int) -> Verdict:
        with self.engine.connect() as connection:
            cursor = coverage.read_cursor(connection, self.stream.name, self.chain_id)
        indexed_up_to = cursor.block_number if cursor else self.source.start_block - 1
        lag = max(0, safe_head - indexed_up_to)
        metadata = {"lag_blocks": lag, "safe_head": safe_head, "cursor_block": cursor.block_number if cursor else -1}
        where = f"cursor {indexed_up_to}" if cursor else f"no cursor (start block {self.source.start_block})"
        message = f"{lag} final block(s) behind the safe head {safe_head} ({where})"
        if lag <= warn_above:
            return Verdict("cursor_lag_blocks", True, message, metadata)
        severity = Severity.WARN if lag <= error_above else Severity.ERROR
        limit = warn_above if severity is Severity.WARN else error_above
        return Verdict("cursor_lag_blocks", False, f"{message}; more than {limit}", metadata, severity)

    # --------------------------------------------------------------------------- against the chain

    def recent_blocks_canonical(self) -> Verdict:
        """The newest stored block hashes (rows and range ends) are the chain's."""
        with self.engine.connect() as connection:
            stored = self._newest_stored_hashes(connection)
        if not stored:
            return Verdict("recent_blocks_canonical", True, "nothing indexed yet", {"blocks_compared": 0})
        chain = self._hashes(sorted(stored))
        differing = sorted((n for n in stored if stored[n] != chain[n]), reverse=True)
        listed = ", ".join(str(n) for n in differing[:LISTED_PROBLEMS])
        message = (
            f"the newest {len(stored)} stored blocks ({min(stored)}..{max(stored)}) are canonical"
            if not differing
            else f"{len(differing)} of the newest {len(stored)} stored blocks differ from the chain "
            f"(reorged or corrupted): {listed}"
        )
        metadata = {"blocks_compared": len(stored), "blocks_differing": len(differing)}
        return Verdict("recent_blocks_canonical", not differing, message, metadata)

    def _newest_stored_hashes(self, connection: Connection) -> dict[int, str]:
        parts = [
            select(t.c.block_number, t.c.block_hash)
            .where(self.rows_of(t))
            .order_by(t.c.block_number.desc())
            .limit(RECENT_BLOCKS * 4)  # several logs per block: enough rows for RECENT_BLOCKS blocks
            .subquery()
            for t in self.tables
        ]
        rows: list[tuple[int, str]] = []
        for part in parts:
            rows += connection.execute(select(part.c.block_number, part.c.block_hash)).all()
        rows += connection.execute(
            select(stream_ranges.c.to_block, stream_ranges.c.to_block_hash).where(
                stream_ranges.c.stream == self.stream.name, stream_ranges.c.chain_id == self.chain_id
            )
        ).all()
        stored: dict[int, str] = {}
        for number, hash_ in sorted(rows, reverse=True):
            stored.setdefault(number, hash_)
        return dict(sorted(stored.items(), reverse=True)[:RECENT_BLOCKS])

    def log_counts_match_chain(self, rng: random.Random | None = None) -> Verdict:
        """Per sampled block, as many rows as the chain has logs of the stream.

        The sample is the newest RECENT_WINDOW_BLOCKS indexed blocks (one eth_getLogs request:
        where a lost or doubled log is likeliest) and RANDOM_COVERED_BLOCKS random indexed blocks.
        Blocks are chosen from the coverage, not from the stored rows, so a block whose rows were
        all lost is sampled as well.
        """
        with self.engine.connect() as connection:
            ranges = coverage.covered_ranges(connection, self.stream.name, self.chain_id)
            if not ranges:
                return Verdict("log_counts_match_chain", True, "nothing indexed yet", {"blocks_sampled": 0})
            top = max(ranges, key=lambda r: r.to_block)
            window = (max(top.from_block, top.to_block - RECENT_WINDOW_BLOCKS + 1), top.to_block)
            generator = rng or random.Random()
            random_blocks = {
                generator.randint(r.from_block, r.to_block)
                for r in generator.choices(
                    ranges, weights=[r.to_block - r.from_block + 1 for r in ranges], k=RANDOM_COVERED_BLOCKS
                )
            } - set(range(window[0], window[1] + 1))
            stored = self._row_counts(connection, window, sorted(random_blocks))
        on_chain = self._chain_log_counts(*window)
        for number in random_blocks:
            on_chain.update(self._chain_log_counts(number, number))
        sample = sorted({*range(window[0], window[1] + 1), *random_blocks})
        differing = [n for n in sample if stored.get(n, 0) != on_chain.get(n, 0)]
        listed = ", ".join(
            f"block {n}: {stored.get(n, 0)} stored, {on_chain.get(n, 0)} on chain" for n in differing[:LISTED_PROBLEMS]
        )
        message = (
            f"log counts of {len(sample)} sampled blocks (newest {window[0]}..{window[1]}, "
            f"random {sorted(random_blocks) or 'none'}) equal the chain's"
            if not differing
            else f"{len(differing)} of {len(sample)} sampled blocks differ: {listed}"
        )
        metadata = {"blocks_sampled": len(sample), "blocks_differing": len(differing)}
        return Verdict("log_counts_match_chain", not differing, message, metadata)

    def _row_counts(self, connection: Connection, window: tuple[int, int], blocks: list[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for table in self.tables:
            query = (
                select(table.c.block_number, func.count())
                .where(
                    self.rows_of(table),
                    table.c.block_number.between(*window) | table.c.block_number.in_(blocks),
                )
                .group_by(table.c.block_number)
            )
            for number, count in connection.execute(query):
                counts[number] = counts.get(number, 0) + count
        return counts

    def _chain_log_counts(self, from_block: int, to_block: int) -> Counter[int]:
        log_filter = {
            "address": [self.source.address],
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": [self.stream.topics0],
        }
        logs = self.client.call("eth_getLogs", [log_filter])
        return Counter(int(log["blockNumber"], 16) for log in logs if not log.get("removed"))

    # --------------------------------------------------------------------------- contract invariants

    def deposit_ids_contiguous(self) -> Verdict:
        """Deposit ids are exactly 1..n, checked from a watermark: each run reads only the new ids.

        The watermark is the highest id verified so far; ids at or below it are not read again
        (only whether the watermark's own row still exists: a reorg that removed it resets it).
        """
        table = EVENT_TABLES["Deposited"]
        mine = self.rows_of(table)
        key = and_(
            check_watermarks.c.check_name == "deposit_ids_contiguous",
            check_watermarks.c.stream == self.stream.name,
            check_watermarks.c.chain_id == self.chain_id,
        )
        with self.engine.begin() as connection:
            watermark = connection.execute(select(check_watermarks.c.verified_up_to).where(key)).scalar() or 0
            if (
                watermark
                and not connection.execute(
                    select(table.c.deposit_id).where(mine, table.c.deposit_id == watermark).limit(1)
                ).first()
            ):
                watermark = 0
            count, distinct, lowest, highest = connection.execute(
                select(
                    func.count(),
                    func.count(table.c.deposit_id.distinct()),
                    func.min(table.c.deposit_id),
                    func.max(table.c.deposit_id),
                ).where(mine, table.c.deposit_id > watermark)
            ).one()
            contiguous = count == 0 or (count == distinct and lowest == watermark + 1 and highest == watermark + count)
            if contiguous:
                self._save_watermark(connection, key, highest or watermark)
            problem = "" if contiguous else self._first_problem(connection, table, watermark)
        total = (highest or watermark) if contiguous else None
        metadata = {"ids_read": count, "verified_up_to": highest or watermark if contiguous else watermark}
        if contiguous:
            return Verdict("deposit_ids_contiguous", True, f"deposit ids are exactly 1..{total}", metadata)
        return Verdict("deposit_ids_contiguous", False, f"deposit ids are not contiguous: {problem}", metadata)

    def _save_watermark(self, connection: Connection, key: Any, value: int) -> None:
        changed = connection.execute(
            update(check_watermarks).where(key).values(verified_up_to=value, updated_at=func.now())
        ).rowcount
        if not changed:
            try:
                with connection.begin_nested():
                    connection.execute(
                        check_watermarks.insert().values(
                            check_name="deposit_ids_contiguous",
                            stream=self.stream.name,
                            chain_id=self.chain_id,
                            verified_up_to=value,
                        )
                    )
            except IntegrityError:
                pass  # another evaluation stored it first; it verified the same ids

    def _first_problem(self, connection: Connection, table: Any, watermark: int) -> str:
        ids = connection.execute(
            select(table.c.deposit_id)
            .where(self.rows_of(table), table.c.deposit_id > watermark)
            .order_by(table.c.deposit_id)
            .limit(100_000)
        ).scalars()
        expected = watermark + 1
        for deposit_id in ids:
            if deposit_id < expected:
                return f"deposit id {deposit_id} is stored more than once"
            if deposit_id > expected:
                missing = f"{expected}" if deposit_id == expected + 1 else f"{expected}..{deposit_id - 1}"
                return f"deposit id(s) {missing} missing before {deposit_id}"
            expected += 1
        return f"ids after {watermark} do not start at {watermark + 1}"
