"""`withdrawal_daily_stats`: per UTC request day and token, statuses, volume, latencies and L2 gas.

Daily partitions from INTMAX_INDEXING_START_DATE; each replaces its day's rows. The hourly schedule
refreshes today (and yesterday after midnight); the day's totals are materialization metadata, so
the UI plots them across partitions.
"""

from datetime import date
from typing import Any

import dagster as dg

from intmax_assets.defs.daily_refresh import build_daily_refresh_schedule
from intmax_assets.defs.indexing.assets import partitions
from intmax_assets.resources import WarehouseResource
from intmax_core.config import Settings
from intmax_core.withdrawals.daily_stats import STATUSES, compute_day, read_day, write_day

ASSET = "withdrawal_daily_stats"


def build_withdrawal_daily_stats(settings: Settings) -> tuple[dg.AssetsDefinition, dg.ScheduleDefinition]:
    @dg.asset(
        name=ASSET,
        group_name="withdrawals",
        kinds={"pandas", "sql"},
        partitions_def=partitions(settings),
        deps=[dg.AssetKey("withdrawals"), dg.AssetKey("withdrawal_groups")],
    )
    def withdrawal_daily_stats(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Per request day and token: withdrawals per status, exact volume, p50/p95 from request to the L2
        queue event and from there to L1, and the L2 gas per withdrawal of the submissions."""
        day = date.fromisoformat(context.partition_key)
        with warehouse.engine.begin() as connection:
            frame = read_day(connection, day)
            rows = compute_day(frame)
            write_day(connection, day, rows)
        metadata: dict[str, Any] = {"withdrawals": len(frame), "tokens": len(rows)}
        for status in STATUSES:
            metadata[f"{status}_count"] = sum(row[f"{status}_count"] for row in rows)
        relayed = [row["p50_to_relayed_seconds"] for row in rows if row["p50_to_relayed_seconds"] is not None]
        if relayed:
            metadata["max_token_p50_to_relayed_seconds"] = max(relayed)
        gas = [row["gas_per_withdrawal"] for row in rows if row["gas_per_withdrawal"] is not None]
        if gas:
            metadata["gas_per_withdrawal"] = sum(gas) / len(gas)
        return dg.MaterializeResult(metadata=metadata)

    return withdrawal_daily_stats, build_daily_refresh_schedule(
        ASSET, settings.indexing_start_date, settings.daily_stats_cron
    )
