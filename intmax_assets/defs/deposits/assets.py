"""The `deposits` asset: keeps the `deposits` table current from the indexed event tables."""

# No `from __future__ import annotations`: Dagster resolves the config annotation at definition time.

from typing import Any

import dagster as dg
import pydantic

from intmax_assets.defs.indexing.assets import asset_key
from intmax_assets.resources import WarehouseResource
from intmax_core.deposits.refresh import DEFAULT_REORG_WINDOW_BLOCKS, refresh_deposits
from intmax_core.deposits.summary import processed_without_relay, summarize
from intmax_core.indexing.streams import STREAMS_BY_NAME

PROCESSED_ARE_RELAYED = "processed_deposits_are_relayed"


class DepositsRefreshConfig(dg.Config):
    full_rebuild: bool = pydantic.Field(
        False,
        description="Recompute every deposit from the event tables (e.g. after a reorg deeper than the window, "
        "or a change of the derivation). False recomputes only new, open and recently-referenced deposits.",
    )
    reorg_window_blocks: int = pydantic.Field(
        DEFAULT_REORG_WINDOW_BLOCKS,
        description="Rows referencing an event this close below the stream's cursor are recomputed, "
        "so that a deposit whose events a reorg repair rolled back follows them.",
    )


@dg.asset(
    name="deposits",
    group_name="deposits",
    kinds={"sql"},
    deps=[asset_key(STREAMS_BY_NAME["l1_liquidity"]), asset_key(STREAMS_BY_NAME["l2_rollup"])],
    check_specs=[
        dg.AssetCheckSpec(
            PROCESSED_ARE_RELAYED,
            asset="deposits",
            description="No processed deposit lacks a relay batch (an L1 relay missing from the index).",
        )
    ],
)
def deposits(
    context: dg.AssetExecutionContext, config: DepositsRefreshConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """One row per deposit id: its lifecycle (pending, relayed, processed, canceled) and its L1/L2 events."""
    with warehouse.engine.begin() as connection:
        stats = refresh_deposits(connection, full=config.full_rebuild, reorg_window_blocks=config.reorg_window_blocks)
    with warehouse.engine.connect() as connection:
        summary = summarize(connection)
        unrelayed, examples = processed_without_relay(connection)
    context.log.info(f"deposits: examined {stats.examined}, wrote {stats.written}, deleted {stats.deleted}")
    metadata: dict[str, Any] = {f"{status}_count": count for status, count in summary.counts.items()}
    metadata |= {"examined": stats.examined, "written": stats.written, "deleted": stats.deleted}
    if summary.oldest_pending_age_seconds is not None:
        metadata["oldest_pending_age_seconds"] = summary.oldest_pending_age_seconds
    if summary.newest_deposit_id is not None:
        metadata["newest_deposit_id"] = summary.newest_deposit_id
    check = dg.AssetCheckResult(
        check_name=PROCESSED_ARE_RELAYED,
        passed=unrelayed == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"processed_without_relay": unrelayed, "example_deposit_ids": str(examples)},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
