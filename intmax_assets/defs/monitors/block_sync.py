"""`block_sync_monitor` (group `monitors`): the validity prover's block against the Rollup's, on a schedule.

Defined only when INTMAX_VALIDITY_PROVER_URL is set: without a prover there is nothing to compare,
and a run failing every few minutes would only bury real failures in alerts. (The devnet manifest
sets the stand-in's URL, so the devnet always has it.)

A reading becomes plottable metadata (validity_prover_block, rollup_block, block_difference) and
`in_sync`; out of sync raises the WARN alert (intmax_core.monitors.block_sync). An unreadable prover
or chain fails the run, and the run-failure sensor reports it: unknown is never "in sync".
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.

import dagster as dg

from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.rpc import RpcError, RpcUnavailable
from intmax_core.config import Settings
from intmax_core.monitors.block_sync import BlockSyncUnknown, check_block_sync

ASSET = "block_sync_monitor"
JOB = f"{ASSET}_job"


def build_block_sync_monitor(settings: Settings) -> tuple[dg.AssetsDefinition, dg.ScheduleDefinition] | None:
    """The asset and its schedule (INTMAX_BLOCK_SYNC_CRON), or None when no validity prover is configured."""
    if not settings.validity_prover_url:
        return None

    @dg.asset(
        name=ASSET,
        group_name="monitors",
        description="The validity prover's latest block against Rollup.getLatestBlockNumber() on L2; WARN alert when "
        "it lags by INTMAX_BLOCK_SYNC_MAX_DIFFERENCE blocks or more.",
    )
    def block_sync_monitor(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, l2: ChainResource
    ) -> dg.MaterializeResult:
        try:
            with l2.client() as client:
                l2.verified_chain_id(client)
                reading, alert = check_block_sync(settings, client, engine=warehouse.engine)
        except BlockSyncUnknown as error:
            raise dg.Failure(f"block sync unknown: {error}") from None
        except (RpcError, RpcUnavailable) as error:
            raise dg.Failure(f"block sync unknown: L2 unreadable: {error}") from None
        verdict = "in sync" if reading.in_sync else "OUT OF SYNC"
        context.log.info(f"block sync {verdict}: {reading.alert_message()}")
        metadata: dict[str, object] = {
            "validity_prover_block": reading.validity_prover_block,
            "rollup_block": reading.rollup_block,
            "block_difference": reading.difference,
            "in_sync": reading.in_sync,
        }
        if alert is not None:
            metadata["alert"] = alert.status.value
        return dg.MaterializeResult(metadata=metadata)

    job = dg.define_asset_job(JOB, selection=[block_sync_monitor])
    schedule = dg.ScheduleDefinition(
        name=f"{ASSET}_schedule",
        job=job,
        cron_schedule=settings.block_sync_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Compares the validity prover's block with the Rollup's (INTMAX_BLOCK_SYNC_CRON).",
    )
    return block_sync_monitor, schedule
