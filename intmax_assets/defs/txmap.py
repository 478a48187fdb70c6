"""The `tx_maps` asset: the tx-map table, cleaned of expired entries on a schedule.

Reads already treat an expired entry as missing; the cleaner only keeps the table small, deleting
expired rows in batches of 500 (one transaction each), at INTMAX_TX_MAP_CLEANER_CRON (every 15
minutes by default).
"""

from datetime import UTC, datetime

import dagster as dg
from sqlalchemy import func, select

from intmax_assets.resources import WarehouseResource
from intmax_core.config import Settings
from intmax_core.txmap.store import clean_expired
from intmax_core.warehouse.txmap_tables import tx_maps as tx_maps_table


@dg.asset(name="tx_maps", group_name="tx_map", kinds={"sql"})
def tx_maps(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """tx-map entries (POST /v1/map); each materialization deletes the expired ones."""
    deleted = clean_expired(warehouse.engine, datetime.now(UTC))
    with warehouse.engine.connect() as connection:
        live = connection.execute(select(func.count()).select_from(tx_maps_table)).scalar_one()
    context.log.info(f"tx-map cleaner: deleted {deleted} expired entries, {live} left")
    return dg.MaterializeResult(metadata={"deleted_expired": deleted, "entries": live})


def build_tx_map_cleaner_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="tx_map_cleaner_schedule",
        target=tx_maps,
        cron_schedule=settings.tx_map_cleaner_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Deletes expired tx-map entries (INTMAX_TX_MAP_CLEANER_CRON).",
    )
