"""Which blocks a stream has indexed: merged block ranges, and the cursor derived from them.

The cursor is the end of the contiguous coverage that starts at the stream's start block:
everything up to it is indexed, with no hole. Ranges beyond a hole (a day backfilled out of
order) are kept, and the cursor jumps over them once the hole is filled. Every function here runs
inside the caller's transaction, so ranges and cursor move together with the rows they describe.

One writer per stream: several runs may index one stream at once (the tail and a backfill, two
day partitions). Each writer takes `lock_stream` first in every transaction that writes the
stream's rows, ranges or cursor; otherwise two transactions adding adjacent ranges on PostgreSQL
each miss the other's uncommitted range, and the ranges are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak
from sqlalchemy import Connection, and_, delete, false, func, insert, select, update

from intmax_core.warehouse.schema import stream_cursors, stream_ranges


@dataclass(frozen=True)
class BlockRange:
    from_block: int
    to_block: int
    to_block_hash: str


@dataclass(frozen=True)
class Cursor:
    block_number: int
    block_hash: str


def _of(stream: str, chain_id: int):  # type: ignore[no-untyped-def]
    return and_(stream_ranges.c.stream == stream, stream_ranges.c.chain_id == chain_id)


def lock_stream(connection: Connection, stream: str, chain_id: int) -> None:
    """Make the caller's transaction the stream's only writer until it ends (commit or rollback).

    PostgreSQL: a transaction-level advisory lock on the (stream, chain) pair; other streams are
    not blocked. SQLite has one writer per database anyway: a write statement (here one that
    matches no row) takes that lock at once, so the reads that follow see every committed write
    and nothing can interleave before this transaction commits.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(stream_lock_key(stream, chain_id))))
    else:
        connection.execute(update(stream_cursors).where(false()).values(block_number=stream_cursors.c.block_number))


def stream_lock_key(stream: str, chain_id: int) -> int:
    # Advisory locks take a bigint; 8 bytes of keccak make a collision between streams negligible.
    return int.from_bytes(keccak(text=f"intmax-stream:{stream}:{chain_id}")[:8], "big", signed=True)


def covered_ranges(connection: Connection, stream: str, chain_id: int) -> list[BlockRange]:
    rows = connection.execute(
        select(stream_ranges.c.from_block, stream_ranges.c.to_block, stream_ranges.c.to_block_hash)
        .where(_of(stream, chain_id))
        .order_by(stream_ranges.c.from_block)
    )
    return [BlockRange(*row) for row in rows]


def add_range(connection: Connection, stream: str, chain_id: int, indexed: BlockRange) -> None:
    """Record that [from, to] is indexed, merging it with every range it overlaps or touches."""
    touching = connection.execute(
        select(stream_ranges.c.from_block, stream_ranges.c.to_block, stream_ranges.c.to_block_hash).where(
            _of(stream, chain_id),
            stream_ranges.c.to_block >= indexed.from_block - 1,
            stream_ranges.c.from_block <= indexed.to_block + 1,
        )
    ).all()
    merged_from = min([indexed.from_block, *(r.from_block for r in touching)])
    end = max([indexed, *(BlockRange(*r) for r in touching)], key=lambda r: r.to_block)
    if touching:
        connection.execute(
            delete(stream_ranges).where(
                _of(stream, chain_id), stream_ranges.c.from_block.in_([r.from_block for r in touching])
            )
        )
    connection.execute(
        insert(stream_ranges).values(
            stream=stream,
            chain_id=chain_id,
            from_block=merged_from,
            to_block=end.to_block,
            to_block_hash=end.to_block_hash,
            indexed_at=func.now(),
        )
    )


def truncate_above(connection: Connection, stream: str, chain_id: int, block: int, block_hash: str) -> None:
    """Forget coverage above `block` (after a reorg): later ranges go, a spanning one is cut at it."""
    connection.execute(delete(stream_ranges).where(_of(stream, chain_id), stream_ranges.c.from_block > block))
    connection.execute(
        update(stream_ranges)
        .where(_of(stream, chain_id), stream_ranges.c.to_block > block)
        .values(to_block=block, to_block_hash=block_hash, indexed_at=func.now())
    )


def tip(connection: Connection, stream: str, chain_id: int) -> BlockRange | None:
    """The range that reaches highest: its end is the newest block whose hash we rely on."""
    ranges = covered_ranges(connection, stream, chain_id)
    return max(ranges, key=lambda r: r.to_block) if ranges else None


def read_cursor(connection: Connection, stream: str, chain_id: int) -> Cursor | None:
    row = connection.execute(
        select(stream_cursors.c.block_number, stream_cursors.c.block_hash).where(
            stream_cursors.c.stream == stream, stream_cursors.c.chain_id == chain_id
        )
    ).first()
    return Cursor(row.block_number, row.block_hash) if row else None


def refresh_cursor(connection: Connection, stream: str, chain_id: int, start_block: int) -> Cursor | None:
    """Set the cursor to the end of the contiguous coverage from `start_block`.

    Walks the ranges in block order from the start block, following every range that overlaps
    or touches the coverage so far: ranges need not be merged for the cursor to be right.
    """
    end: BlockRange | None = None
    for r in covered_ranges(connection, stream, chain_id):
        reached = start_block - 1 if end is None else end.to_block
        if r.from_block > reached + 1:
            break
        if r.to_block > reached:
            end = r
    where = and_(stream_cursors.c.stream == stream, stream_cursors.c.chain_id == chain_id)
    connection.execute(delete(stream_cursors).where(where))
    if end is None:
        return None
    connection.execute(
        insert(stream_cursors).values(
            stream=stream,
            chain_id=chain_id,
            block_number=end.to_block,
            block_hash=end.to_block_hash,
            updated_at=func.now(),
        )
    )
    return Cursor(end.to_block, end.to_block_hash)


def overlaps(connection: Connection, stream: str, chain_id: int, from_block: int, to_block: int) -> bool:
    """Whether any indexed range shares a block with [from_block, to_block]."""
    return (
        connection.execute(
            select(stream_ranges.c.from_block)
            .where(
                _of(stream, chain_id), stream_ranges.c.to_block >= from_block, stream_ranges.c.from_block <= to_block
            )
            .limit(1)
        ).first()
        is not None
    )


def missing_ranges(ranges: list[BlockRange], start_block: int) -> list[tuple[int, int]]:
    """Holes in the coverage between the start block and the highest indexed block."""
    holes = []
    expected = start_block
    for r in sorted(ranges, key=lambda r: r.from_block):
        if r.to_block < expected:
            continue
        if r.from_block > expected:
            holes.append((expected, r.from_block - 1))
        expected = r.to_block + 1
    return holes
