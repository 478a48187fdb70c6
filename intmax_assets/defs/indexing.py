"""Event indexing: one daily-partitioned asset per stream, a freshness sensor per chain, and checks.

A partition is a UTC day; materializing it indexes exactly the final blocks of that day (found by
binary search on block timestamps) and replaces what was stored for them, so operators can
backfill or repair any day from the UI. The sensors keep today fresh cheaply: they read the chain
head and the cursors, and request a run only when new final blocks exist.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pydantic
from sqlalchemy import func, select

from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.blocks import get_block_headers
from intmax_core.config import Settings
from intmax_core.indexing import coverage
from intmax_core.indexing.day_ranges import day_block_range
from intmax_core.indexing.indexer import IndexStats, StreamIndexer, safe_head
from intmax_core.indexing.streams import STREAMS, StreamSpec, stream_source
from intmax_core.warehouse.event_tables import EVENT_TABLES

GROUP = "indexing"
# The sensor requests at most this many days per tick; a longer gap is a job for a backfill.
MAX_DAYS_PER_SENSOR_TICK = 3
SENSOR_INTERVAL_SECONDS = 30


class IndexingConfig(dg.Config):
    only_new_blocks: bool = pydantic.Field(
        False,
        description="Index only blocks of the day not yet covered (the sensor's runs); "
        "false re-indexes the whole day, replacing its rows (repairs and backfills).",
    )


def asset_key(stream: StreamSpec) -> dg.AssetKey:
    return dg.AssetKey(f"{stream.name}_events")


def partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists while today is still in progress.
    return dg.DailyPartitionsDefinition(
        start_date=settings.indexing_start_date.isoformat(), timezone="UTC", end_offset=1
    )


def _check_results(
    stream: StreamSpec, indexer: StreamIndexer, chain_hash_of_cursor: str | None
) -> list[dg.AssetCheckResult]:
    engine, chain_id, source = indexer.engine, indexer.chain_id, indexer.source
    with engine.connect() as connection:
        cursor = coverage.read_cursor(connection, stream.name, chain_id)
        holes = coverage.missing_ranges(
            coverage.covered_ranges(connection, stream.name, chain_id), source.deployed_block
        )
        duplicates = 0
        for table in indexer.tables:
            keys = (
                select(table.c.chain_id, table.c.block_number, table.c.log_index)
                .group_by(table.c.chain_id, table.c.block_number, table.c.log_index)
                .having(func.count() > 1)
            )
            duplicates += connection.execute(select(func.count()).select_from(keys.subquery())).scalar_one()
        deposit_ids = None
        if stream.name == "l1_liquidity":
            deposited = EVENT_TABLES["Deposited"]
            deposit_ids = [
                row[0]
                for row in connection.execute(
                    select(deposited.c.deposit_id).where(
                        deposited.c.chain_id == chain_id, deposited.c.address == source.address
                    )
                )
            ]
    results = [
        dg.AssetCheckResult(
            check_name="cursor_matches_chain",
            passed=cursor is None or cursor.block_hash == chain_hash_of_cursor,
            metadata={"cursor_block": cursor.block_number if cursor else -1},
        ),
        dg.AssetCheckResult(
            check_name="no_missing_block_ranges",
            passed=not holes,
            metadata={"missing_ranges": str(holes[:20]), "missing_range_count": len(holes)},
        ),
        dg.AssetCheckResult(check_name="unique_keys", passed=duplicates == 0, metadata={"duplicates": duplicates}),
    ]
    if deposit_ids is not None:
        ids = sorted(deposit_ids)
        contiguous = ids == list(range(1, len(ids) + 1))
        results.append(
            dg.AssetCheckResult(
                check_name="deposit_ids_contiguous",
                passed=contiguous,
                metadata={"deposits": len(ids), "max_deposit_id": ids[-1] if ids else 0},
            )
        )
    return results


def _check_specs(stream: StreamSpec) -> list[dg.AssetCheckSpec]:
    key = asset_key(stream)
    specs = [
        dg.AssetCheckSpec("cursor_matches_chain", asset=key, description="The cursor's block hash is the chain's."),
        dg.AssetCheckSpec(
            "no_missing_block_ranges", asset=key, description="Every block since the deployment block is indexed."
        ),
        dg.AssetCheckSpec(
            "unique_keys", asset=key, description="No two rows share (chain_id, block_number, log_index)."
        ),
    ]
    if stream.name == "l1_liquidity":
        specs.append(
            dg.AssetCheckSpec("deposit_ids_contiguous", asset=key, description="Deposit ids are exactly 1..n.")
        )
    return specs


def _metadata(stats: IndexStats, day_range: tuple[int, int] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "blocks_indexed": stats.blocks,
        "first_block": stats.from_block if stats.from_block is not None else -1,
        "last_block": stats.to_block if stats.to_block is not None else -1,
        "events_total": sum(stats.events.values()),
        "duration_seconds": round(stats.seconds, 3),
        "chunks": stats.chunks,
        "partition_block_range": str(day_range) if day_range else "no final blocks",
    }
    metadata.update({f"events_{name}": count for name, count in sorted(stats.events.items())})
    if stats.fetch is not None:
        metadata.update({f"getlogs_{k}": v for k, v in stats.fetch.as_metadata().items()})
    if stats.reorg_rollback_to is not None:
        metadata["reorg_rolled_back_to_block"] = stats.reorg_rollback_to
        metadata["reorg_rows_deleted"] = stats.rows_deleted_by_reorg
    return metadata


def build_stream_asset(stream: StreamSpec, settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(stream),
        group_name=GROUP,
        description=stream.description,
        partitions_def=partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=f"rpc_{stream.chain}",
        kinds={"sql"},
        check_specs=_check_specs(stream),
        required_resource_keys={"warehouse", stream.chain},
    )
    def _index_stream(context: dg.AssetExecutionContext, config: IndexingConfig) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        chain: ChainResource = getattr(context.resources, stream.chain)
        source = stream_source(settings, stream)
        with chain.client() as client:
            chain_id = chain.verified_chain_id(client)
            indexer = StreamIndexer(warehouse.engine, client, chain_id, source, **chain.fetcher_options())
            stats = IndexStats()
            indexer.repair_reorg(stats)
            head = safe_head(client, chain.confirmations)
            window = context.partition_time_window
            day_range = day_block_range(_timestamps(client), window.start, window.end, head) if head >= 0 else None
            if day_range is not None:
                index = indexer.index_uncovered if config.only_new_blocks else indexer.index
                index(*day_range, stats)
            with warehouse.engine.connect() as connection:
                cursor = coverage.read_cursor(connection, stream.name, chain_id)
            cursor_hash = get_block_headers(client, [cursor.block_number])[cursor.block_number].hash if cursor else None
            checks = _check_results(stream, indexer, cursor_hash)
        context.log.info(
            f"{stream.name}: {sum(stats.events.values())} events in blocks {stats.from_block}..{stats.to_block}"
        )
        return dg.MaterializeResult(metadata=_metadata(stats, day_range), check_results=checks)

    return _index_stream


def _timestamps(client):  # type: ignore[no-untyped-def]
    cache: dict[int, int] = {}

    def timestamp_of(number: int) -> int:
        if number not in cache:
            cache[number] = get_block_headers(client, [number])[number].timestamp
        return cache[number]

    return timestamp_of


def build_indexing_sensor(chain: str, streams: list[StreamSpec], settings: Settings) -> dg.SensorDefinition:
    keys = [asset_key(s) for s in streams]

    @dg.sensor(
        name=f"{chain}_indexing_sensor",
        description=f"Requests {chain.upper()} indexing runs when new final blocks exist.",
        asset_selection=keys,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse", chain},
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        warehouse: WarehouseResource = context.resources.warehouse
        chain_resource: ChainResource = getattr(context.resources, chain)
        configured = [s for s in streams if getattr(settings, f"{s.contract}_address")]
        if not configured:
            return dg.SkipReason(f"no {chain.upper()} contract is configured")
        with chain_resource.client() as client:
            chain_id = chain_resource.verified_chain_id(client)
            head = safe_head(client, chain_resource.confirmations)
            with warehouse.engine.connect() as connection:
                next_blocks = {}
                for stream in configured:
                    cursor = coverage.read_cursor(connection, stream.name, chain_id)
                    source = stream_source(settings, stream)
                    next_blocks[stream] = cursor.block_number + 1 if cursor else source.deployed_block
            lagging = [s for s, block in next_blocks.items() if block <= head]
            if not lagging:
                return dg.SkipReason(f"no new final {chain.upper()} blocks (safe head {head})")
            oldest = min(next_blocks[s] for s in lagging)
            first_day = datetime.fromtimestamp(get_block_headers(client, [oldest])[oldest].timestamp, UTC).date()
        # Days before the partitions' start have no partition (their blocks belong to no stream).
        first_day = max(first_day, settings.indexing_start_date)
        today = datetime.now(UTC).date()
        days = [first_day + timedelta(days=i) for i in range((today - first_day).days + 1)][:MAX_DAYS_PER_SENSOR_TICK]
        run_config = dg.RunConfig(ops={asset_key(s).path[-1]: IndexingConfig(only_new_blocks=True) for s in lagging})
        requests = [
            dg.RunRequest(
                run_key=f"{chain}:{head}:{day.isoformat()}",
                partition_key=day.isoformat(),
                asset_selection=[asset_key(s) for s in lagging],
                run_config=run_config,
                tags={"intmax/chain": chain, "intmax/safe_head": str(head)},
            )
            for day in days
        ]
        return dg.SensorResult(run_requests=requests, cursor=str(head))

    return _sensor


def build_indexing_definitions(settings: Settings) -> tuple[list[dg.AssetsDefinition], list[dg.SensorDefinition]]:
    assets = [build_stream_asset(stream, settings) for stream in STREAMS]
    sensors = [
        build_indexing_sensor(chain, [s for s in STREAMS if s.chain == chain], settings) for chain in ("l1", "l2")
    ]
    return assets, sensors
