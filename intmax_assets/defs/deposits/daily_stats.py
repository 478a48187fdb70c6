"""`deposit_daily_stats`: per UTC day and token, deposit count, volume and time to L2 (daily partitions).

Each partition replaces its day's rows. Today's partition is refreshed after every materialization
of `deposits` (an asset sensor) and hourly by a schedule, which in the first hour of a day also
refreshes yesterday's final figures (deposits of late yesterday may reach L2 after midnight); any
other day is a backfill from the UI. The day's figures are materialization
metadata, so the asset's plots in the UI show them over the partitions.
"""

from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from intmax_assets.defs.daily_refresh import build_daily_refresh_schedule
from intmax_assets.defs.indexing.assets import partitions
from intmax_assets.resources import WarehouseResource
from intmax_core.config import Settings
from intmax_core.deposits.daily_stats import compute_day, read_day, totals, write_day

ASSET = "deposit_daily_stats"
SENSOR_INTERVAL_SECONDS = 60


def build_deposit_daily_stats(
    settings: Settings,
) -> tuple[dg.AssetsDefinition, dg.ScheduleDefinition, dg.SensorDefinition]:
    @dg.asset(
        name=ASSET,
        group_name="deposits",
        kinds={"pandas", "sql"},
        partitions_def=partitions(settings),
        deps=[dg.AssetKey("deposits"), dg.AssetKey("token_maps")],
    )
    def deposit_daily_stats(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Per UTC day and token: deposits, canceled, processed, volume (exact and in token units), and the
        median and p95 time from the L1 deposit to its L2 leaf."""
        day = date.fromisoformat(context.partition_key)
        with warehouse.engine.begin() as connection:
            frame = read_day(connection, day)
            stats = compute_day(frame)
            write_day(connection, day, stats)
        day_totals = totals(stats, frame)
        metadata: dict[str, Any] = {
            "deposit_count": day_totals.deposit_count,
            "processed_count": day_totals.processed_count,
            "tokens": day_totals.tokens,
        }
        if day_totals.median_processing_seconds is not None:
            metadata["median_processing_seconds"] = day_totals.median_processing_seconds
        for row in stats.itertuples():
            label = row.symbol or f"token_{row.token_index}"
            metadata[f"{label}_deposits"] = int(row.deposit_count)
            if row.volume is not None:
                metadata[f"{label}_volume"] = float(row.volume)
        if len(stats):
            metadata["preview"] = dg.MetadataValue.md(stats.to_markdown(index=False))
        return dg.MaterializeResult(metadata=metadata)

    deposit_daily_stats_schedule = build_daily_refresh_schedule(
        ASSET, settings.indexing_start_date, settings.daily_stats_cron
    )
    job = deposit_daily_stats_schedule.job

    @dg.asset_sensor(
        name=f"{ASSET}_sensor",
        asset_key=dg.AssetKey("deposits"),
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refreshes today's deposit_daily_stats after each materialization of deposits.",
    )
    def deposit_daily_stats_sensor(
        context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
    ) -> dg.RunRequest | dg.SkipReason:
        today = datetime.now(UTC).date()
        if today < settings.indexing_start_date:
            return dg.SkipReason("today is before INTMAX_INDEXING_START_DATE")
        # One run per deposits materialization (named by its run), for the day it happened on.
        return dg.RunRequest(
            run_key=f"{today.isoformat()}@deposits-run-{asset_event.run_id}", partition_key=today.isoformat()
        )

    return deposit_daily_stats, deposit_daily_stats_schedule, deposit_daily_stats_sensor
