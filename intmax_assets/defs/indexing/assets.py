"""One asset per stream, `<stream>_events`, daily-partitioned: a tail run or a day's re-index."""

from datetime import date
from typing import Any

import dagster as dg
import pydantic
from sqlalchemy import Engine, func, select

from intmax_assets.defs.indexing.checks import check_results, check_specs
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.config import Settings
from intmax_core.indexing import coverage
from intmax_core.indexing.audits import StreamAuditor
from intmax_core.indexing.day_boundaries import DayBoundaries
from intmax_core.indexing.indexer import IndexStats, StreamIndexer, safe_head
from intmax_core.indexing.range_caps import load_cap, save_cap
from intmax_core.indexing.streams import StreamSource, StreamSpec, stream_source

GROUP = "indexing"


class IndexingConfig(dg.Config):
    tail: bool = pydantic.Field(
        False,
        description="Index from the stream's cursor to the safe head (the sensor's runs; at most "
        "INTMAX_INDEXING_TAIL_MAX_BLOCKS blocks, skipping ranges already indexed). False re-indexes "
        "the partition's days, replacing their rows (backfills and repairs).",
    )


def asset_key(stream: StreamSpec) -> dg.AssetKey:
    return dg.AssetKey(f"{stream.name}_events")


def partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists while today is still in progress.
    return dg.DailyPartitionsDefinition(
        start_date=settings.indexing_start_date.isoformat(), timezone="UTC", end_offset=1
    )


def resolved_source(settings: Settings, stream: StreamSpec, boundaries: DayBoundaries) -> StreamSource:
    """The stream's source, starting at max(deployment block, first block of the start date).

    A deployment block left at 0 on a chain older than the start date thus starts at the start
    date, instead of asking for history nobody wants (and that no partition would cover).
    """
    first = boundaries.first_block(settings.indexing_start_date)
    # No final block on or after the start date yet: nothing of the stream is due.
    return stream_source(settings, stream).starting_at(boundaries.safe_head + 1 if first is None else first)


def build_stream_asset(stream: StreamSpec, settings: Settings) -> dg.AssetsDefinition:
    key = asset_key(stream)

    @dg.asset(
        key=key,
        group_name=GROUP,
        description=stream.description,
        partitions_def=partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=f"rpc_{stream.chain}",
        kinds={"sql"},
        check_specs=check_specs(stream, key),
        required_resource_keys={"warehouse", stream.chain},
    )
    def _index_stream(context: dg.AssetExecutionContext, config: IndexingConfig) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        chain: ChainResource = getattr(context.resources, stream.chain)
        engine = warehouse.engine
        with chain.client() as client:
            chain_id = chain.verified_chain_id(client)
            head = safe_head(client, chain.confirmations)
            boundaries = DayBoundaries(engine, client, chain_id, head)
            source = resolved_source(settings, stream, boundaries)
            indexer = StreamIndexer(
                engine,
                client,
                chain_id,
                source,
                # A provider's stated eth_getLogs cap, learned by an earlier run, bounds this one's too.
                learned_cap=load_cap(engine, chain_id),
                on_cap_learned=lambda blocks, provider: save_cap(engine, chain_id, blocks, provider),
                **chain.fetcher_options(),
            )
            stats = IndexStats()
            indexer.repair_reorg(stats)
            window = context.partition_time_window
            days = (window.start.date(), window.end.date())
            partition_range = boundaries.block_range(*days)
            if config.tail:
                with engine.connect() as connection:
                    cursor = coverage.read_cursor(connection, stream.name, chain_id)
                start = cursor.block_number + 1 if cursor else source.start_block
                indexer.index_uncovered(start, min(head, start + settings.indexing_tail_max_blocks - 1), stats)
            elif partition_range is not None:
                indexer.index(*partition_range, stats)
            checks = check_results(StreamAuditor(engine, client, chain_id, source), settings, head)
        with engine.connect() as connection:
            cursor = coverage.read_cursor(connection, stream.name, chain_id)
        indexed_up_to = cursor.block_number if cursor else source.start_block - 1
        metadata = {
            **_run_metadata(stats, tail=config.tail),
            **_partition_metadata(engine, indexer, days, partition_range),
            # The stream as a whole, for plots across materializations: how far it is, how far behind.
            "cursor_block": indexed_up_to,
            "lag_blocks": max(0, head - indexed_up_to),
            "safe_head": head,
            "day_boundary_header_requests": boundaries.header_requests,
        }
        context.log.info(
            f"{stream.name} ({'tail' if config.tail else 'partition'}): {sum(stats.events.values())} events "
            f"in blocks {_blocks(stats.from_block, stats.to_block)}"
        )
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return _index_stream


def _blocks(first: int | None, last: int | None) -> str:
    return "none" if first is None or last is None else f"{first:,}..{last:,}"


def _run_metadata(stats: IndexStats, *, tail: bool) -> dict[str, Any]:
    """What this run did (a tail run may cover part of a day, or the end of one day and the start of the next)."""
    metadata: dict[str, Any] = {
        "run_kind": "tail" if tail else "partition",
        "run_blocks": _blocks(stats.from_block, stats.to_block),
        "run_blocks_indexed": stats.blocks,
        "run_events_total": sum(stats.events.values()),
        "run_seconds": round(stats.seconds, 3),
        "run_chunks": stats.chunks,
    }
    metadata.update({f"run_events_{name}": count for name, count in sorted(stats.events.items())})
    if stats.fetch is not None:
        metadata.update({f"getlogs_{k}": v for k, v in stats.fetch.as_metadata().items()})
    if stats.reorg_rollback_to is not None:
        metadata["reorg_rolled_back_to_block"] = stats.reorg_rollback_to
        metadata["reorg_rows_deleted"] = stats.rows_deleted_by_reorg
    return metadata


def _partition_metadata(
    engine: Engine, indexer: StreamIndexer, days: tuple[date, date], block_range: tuple[int, int] | None
) -> dict[str, Any]:
    """What the partition now holds: its final blocks, how many of them are indexed, its rows."""
    name, chain_id = indexer.stream.name, indexer.chain_id
    if block_range is None:
        return {"partition_blocks": "no final blocks yet", "partition_final_blocks": 0, "partition_complete": False}
    # Blocks of the day before the stream's start block are not the stream's to index.
    first, last = max(block_range[0], indexer.source.start_block), block_range[1]
    if first > last:
        return {
            "partition_blocks": "before the stream's start block",
            "partition_final_blocks": 0,
            "partition_complete": True,
        }
    with engine.connect() as connection:
        ranges = coverage.covered_ranges(connection, name, chain_id)
        events = sum(
            connection.execute(
                select(func.count()).where(indexer.rows_of(table), table.c.block_number.between(first, last))
            ).scalar_one()
            for table in indexer.tables
        )
    indexed = sum(max(0, min(r.to_block, last) - max(r.from_block, first) + 1) for r in ranges)
    final_blocks = last - first + 1
    return {
        "partition_days": f"{days[0].isoformat()}..{days[1].isoformat()} (end exclusive)",
        "partition_blocks": _blocks(first, last),
        "partition_final_blocks": final_blocks,
        "partition_blocks_indexed": indexed,
        "partition_complete": indexed == final_blocks,
        "partition_events_total": events,
    }
