"""The collector: the `withdrawal_groups` asset and the sensor that requests it.

The sensor reads the unclaimed `requested` backlog (a LIMITed read through the status/created_at
index) and requests a collection when the policy says so (INTMAX_WITHDRAWAL_MIN_BATCH_SIZE rows,
or the oldest INTMAX_WITHDRAWAL_MIN_WAIT_MINUTES old). The run key names the backlog (its oldest
row and size): a collection changes it; one that failed is retried after a backoff.
"""

# No `from __future__ import annotations`: Dagster resolves the context annotation at definition time.

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from sqlalchemy import func, select

from intmax_assets.defs.run_status import assets_in_flight, prior_attempts
from intmax_assets.defs.withdrawals.statuses import WITHDRAWALS
from intmax_assets.resources import WarehouseResource
from intmax_core.config import Settings
from intmax_core.warehouse.aggregator_tables import GroupStatus, withdrawal_groups
from intmax_core.withdrawals.collector import CollectorPolicy, collect, read_backlog

WITHDRAWAL_GROUPS = dg.AssetKey("withdrawal_groups")
SENSOR_INTERVAL_SECONDS = 30
COLLECT_WORK_TAG = "intmax/withdrawal_backlog"


def collector_policy(settings: Settings) -> CollectorPolicy:
    return CollectorPolicy(
        min_batch_size=settings.withdrawal_min_batch_size,
        min_wait=timedelta(minutes=settings.withdrawal_min_wait_minutes),
        group_size=settings.withdrawal_group_size,
    )


def build_collector(settings: Settings) -> tuple[dg.AssetsDefinition, dg.SensorDefinition]:
    policy = collector_policy(settings)

    @dg.asset(name="withdrawal_groups", group_name="withdrawals", kinds={"sql"}, deps=[WITHDRAWALS])
    def withdrawal_groups_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Groups of requested withdrawals (at most INTMAX_WITHDRAWAL_GROUP_SIZE, in request order), each
        claimed in the database so that no withdrawal is in two live groups."""
        with warehouse.engine.begin() as connection:
            formed = collect(connection, policy, datetime.now(UTC))
        with warehouse.engine.connect() as connection:
            by_status = dict(
                connection.execute(
                    select(withdrawal_groups.c.status, func.count()).group_by(withdrawal_groups.c.status)
                ).all()
            )
        context.log.info(f"collector: formed {len(formed)} groups")
        metadata: dict[str, Any] = {
            "groups_formed": len(formed),
            "withdrawals_grouped": sum(len(g.withdrawal_hashes) for g in formed),
            "formed_group_ids": str([g.group_id for g in formed]),
        }
        metadata |= {f"{status.value}_groups": by_status.get(status.value, 0) for status in GroupStatus}
        return dg.MaterializeResult(metadata=metadata)

    @dg.sensor(
        name="withdrawal_collector_sensor",
        asset_selection=[WITHDRAWAL_GROUPS],
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse"},
        description="Requests a collection when requested withdrawals wait (count or age policy).",
    )
    def withdrawal_collector_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.engine.connect() as connection:
            backlog = read_backlog(connection, policy.group_size * policy.max_groups)
        reason = backlog.due(policy, datetime.now(UTC))
        if reason is None:
            return dg.SkipReason(f"{backlog.waiting} requested withdrawals waiting; the policy says wait")
        if assets_in_flight(context.instance, [WITHDRAWAL_GROUPS]):
            return dg.SkipReason("a collection is already queued or running")
        work = f"{backlog.oldest_hash}+{backlog.waiting}"
        attempts = prior_attempts(context.instance, COLLECT_WORK_TAG, work)
        if attempts.last_succeeded:
            return dg.SkipReason(f"backlog {work} already collected")
        if attempts.wait_seconds > 0:
            return dg.SkipReason(f"collecting {work} failed; retrying in {attempts.wait_seconds:.0f} s")
        context.log.info(f"collection due: {reason}")
        return dg.RunRequest(run_key=attempts.run_key(f"collect:{work}"), tags={COLLECT_WORK_TAG: work})

    return withdrawal_groups_asset, withdrawal_collector_sensor
