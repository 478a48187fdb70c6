"""The `withdrawals` asset: the withdrawal-server's table, its statuses advanced by the watcher."""

# No `from __future__ import annotations`: Dagster resolves the context annotation at definition time.

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from intmax_assets.defs.cursor_sensor import build_cursor_sensor
from intmax_assets.defs.indexing.assets import asset_key
from intmax_assets.resources import WarehouseResource
from intmax_core.indexing.streams import STREAMS_BY_NAME
from intmax_core.warehouse import queries
from intmax_core.withdrawals.watcher import apply_chain_events

WITHDRAWALS = dg.AssetKey("withdrawals")


@dg.asset(
    name="withdrawals",
    group_name="withdrawals",
    kinds={"sql"},
    deps=[asset_key(STREAMS_BY_NAME["l1_liquidity"]), asset_key(STREAMS_BY_NAME["l2_withdrawal"])],
)
def withdrawals_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Withdrawal requests (the withdrawal-server's table): the watcher moves each along the L2 queue
    and L1 Liquidity events indexed so far (relayed, success, need_claim), guarded by status."""
    with warehouse.engine.begin() as connection:
        stats = apply_chain_events(connection)
    with warehouse.engine.connect() as connection:
        counts = queries.withdrawal_status_counts(connection)
        oldest = queries.oldest_requested_at(connection)
    context.log.info(f"watcher: applied {stats.applied}")
    metadata: dict[str, Any] = {f"{status}_count": count for status, count in counts.items()}
    metadata |= {f"applied_{name}": count for name, count in stats.applied.items()}
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite returns naive UTC timestamps
            oldest = oldest.replace(tzinfo=UTC)
        metadata["oldest_requested_age_seconds"] = (datetime.now(UTC) - oldest).total_seconds()
    return dg.MaterializeResult(metadata=metadata)


withdrawals_watcher_sensor = build_cursor_sensor(
    "withdrawals_watcher_sensor",
    ("l1_liquidity", "l2_withdrawal"),
    [WITHDRAWALS],
    "Advances withdrawal statuses when the l1_liquidity or l2_withdrawal cursor moved.",
)
