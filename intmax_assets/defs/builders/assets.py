"""`block_builders` and `block_builder_health`, run together by a schedule (every minute by default).

`block_builders` folds the indexed heartbeats into one row per builder; `block_builder_health`
judges every builder and writes `active` for all of them in one transaction, with the reasons of
each inactive one (also shown in the materialization's metadata). When the L2 balances cannot be
read at all the health run fails and leaves every verdict as it was: unknown is not unhealthy.
"""

import asyncio
from datetime import UTC, datetime

import dagster as dg
import httpx

from intmax_assets.defs.indexing.assets import asset_key
from intmax_assets.defs.run_status import in_flight_runs
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.builders.balances import BalanceReadError
from intmax_core.builders.health import CHECKS, HealthPolicy
from intmax_core.builders.monitor import HealthReport, check_builders
from intmax_core.builders.registry import sync_block_builders
from intmax_core.config import Settings
from intmax_core.indexing.streams import STREAMS_BY_NAME

GROUP = "builders"
JOB_NAME = "block_builder_health_job"
HEARTBEATS = asset_key(STREAMS_BY_NAME["l2_block_builder_registry"])
# Inactive builders listed in the metadata table; the rest are counted (the table is for reading).
MAX_LISTED = 50


def build_builder_definitions(
    settings: Settings,
) -> tuple[list[dg.AssetsDefinition], dg.JobDefinition, dg.ScheduleDefinition]:
    policy = HealthPolicy.from_settings(settings)

    @dg.asset(name="block_builders", group_name=GROUP, deps=[HEARTBEATS], kinds={"sql"})
    def block_builders(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, l2: ChainResource
    ) -> dg.MaterializeResult:
        """One row per block builder: the URL and block time of its latest heartbeat (BlockBuilderRegistry)."""
        with l2.client() as client:
            chain_id = l2.verified_chain_id(client)
        sync = sync_block_builders(warehouse.engine, chain_id)
        context.log.info(f"block_builders: {sync.builders} builders, {sync.changed} new or with a newer heartbeat")
        return dg.MaterializeResult(metadata={"builders": sync.builders, "changed": sync.changed})

    @dg.asset(name="block_builder_health", group_name=GROUP, deps=[block_builders], kinds={"sql"})
    def block_builder_health(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, l2: ChainResource
    ) -> dg.MaterializeResult:
        """Which builders are active: heartbeat age, https URL, /fee-info (version, fee tokens and cap),
        L2 ETH balance; the reasons of every inactive builder."""
        try:
            with l2.client() as client:
                report = asyncio.run(_check(warehouse, client))
        except BalanceReadError as error:
            raise dg.Failure(f"{error}; every builder keeps its previous verdict") from None
        context.log.info(f"block_builder_health: {report.active} active, {report.inactive} inactive")
        return dg.MaterializeResult(metadata=_metadata(report))

    async def _check(warehouse: WarehouseResource, client) -> HealthReport:  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient(follow_redirects=False) as http:
            return await check_builders(
                warehouse.engine, policy, client, settings.l2_multicall3_address, http, datetime.now(UTC)
            )

    job = dg.define_asset_job(
        JOB_NAME,
        selection=[block_builders, block_builder_health],
        description="Refresh block_builders from the heartbeats and judge every builder's health.",
        tags={"intmax/chain": "l2"},
    )

    @dg.schedule(
        name="block_builder_health_schedule",
        job=job,
        cron_schedule=settings.builder_health_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Judges every block builder (INTMAX_BUILDER_HEALTH_CRON, every minute by default).",
    )
    def health_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if in_flight_runs(context.instance, JOB_NAME):
            return dg.SkipReason(f"{JOB_NAME} is already queued or running")
        return dg.RunRequest()

    return [block_builders, block_builder_health], job, health_schedule


def _metadata(report: HealthReport) -> dict[str, object]:
    inactive = [verdict for verdict in report.verdicts if not verdict.active]
    rows = "\n".join(f"| `{verdict.address}` | {verdict.reason} |" for verdict in inactive[:MAX_LISTED])
    more = f"\n\n… and {len(inactive) - MAX_LISTED} more" if len(inactive) > MAX_LISTED else ""
    metadata: dict[str, object] = {
        "builders": len(report.verdicts),
        "active_builders": report.active,
        "inactive_builders": report.inactive,
        "inactive_reasons": dg.MetadataValue.md(
            "| builder | why inactive |\n|---|---|\n" + rows + more if inactive else "every builder is active"
        ),
    }
    failed = report.failed_checks()
    for check in CHECKS:  # every check, zeros included, so each one plots as a continuous series
        metadata[f"failed/{check}"] = failed[check]
    return metadata
