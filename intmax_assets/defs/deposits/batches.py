"""The `deposit_batches` asset: one row per relayDeposits batch, with its L2 processing and latencies."""

# No `from __future__ import annotations`: Dagster resolves the config annotation at definition time.

from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

import dagster as dg
import pydantic
from sqlalchemy import func, select

from intmax_assets.defs.indexing.assets import asset_key
from intmax_assets.resources import WarehouseResource
from intmax_core.deposits.batches import refresh_deposit_batches, unprocessed_batches
from intmax_core.indexing.streams import STREAMS_BY_NAME
from intmax_core.warehouse.deposits_tables import deposit_batches as deposit_batches_table

BATCHES_REACH_L2 = "relayed_batches_reach_l2"
# Batches whose latencies the metadata summarises (the newest ones).
RECENT_BATCHES = 100


class DepositBatchesConfig(dg.Config):
    l2_deadline_seconds: int = pydantic.Field(
        3_600,
        ge=0,
        description="relayed_batches_reach_l2 fails for a batch relayed this long ago (L1 block time) that the "
        "Rollup has not processed: its L1->L2 message is stuck (see `intmax deposits replay`).",
    )


@dg.asset(
    name="deposit_batches",
    group_name="deposits",
    kinds={"sql"},
    deps=[asset_key(STREAMS_BY_NAME["l1_liquidity"]), asset_key(STREAMS_BY_NAME["l2_rollup"])],
    check_specs=[
        dg.AssetCheckSpec(
            BATCHES_REACH_L2,
            asset="deposit_batches",
            description="Every relayed batch is processed on L2 within the deadline (default 1 h).",
        )
    ],
)
def deposit_batches(
    context: dg.AssetExecutionContext, config: DepositBatchesConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """One row per relayDeposits batch: its ids, hashes, L2 gas limit, L1 relay, L2 processing and latencies."""
    with warehouse.engine.begin() as connection:
        stats = refresh_deposit_batches(connection)
    deadline = datetime.now(UTC) - timedelta(seconds=config.l2_deadline_seconds)
    table = deposit_batches_table
    with warehouse.engine.connect() as connection:
        late = unprocessed_batches(connection, relayed_before=deadline)
        recent = (
            connection.execute(select(table).order_by(table.c.up_to_deposit_id.desc()).limit(RECENT_BATCHES))
            .mappings()
            .all()
        )
        awaiting_l2 = connection.execute(
            select(func.count()).select_from(table).where(table.c.processed_tx_hash.is_(None))
        ).scalar_one()
    context.log.info(f"deposit_batches: {stats.batches} batches, wrote {stats.written}, deleted {stats.deleted}")
    metadata: dict[str, Any] = {
        "batch_count": stats.batches,
        "written": stats.written,
        "deleted": stats.deleted,
        "batches_awaiting_l2": awaiting_l2,
    }
    if recent:
        newest = recent[0]
        metadata["last_up_to_deposit_id"] = newest["up_to_deposit_id"]
        processing = [r["processing_seconds"] for r in recent if r["processing_seconds"] is not None]
        waits = [r["relay_wait_seconds"] for r in recent if r["relay_wait_seconds"] is not None]
        if processing:
            metadata["median_processing_seconds"] = median(processing)
        if waits:
            metadata["median_relay_wait_seconds"] = median(waits)
    check = dg.AssetCheckResult(
        check_name=BATCHES_REACH_L2,
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"late_batches": len(late), "late_up_to_ids": str(late[:20])},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
