"""The sensor that keeps `deposits` and `deposit_batches` current as the tail indexes new blocks.

Their inputs are the l1_liquidity and l2_rollup event tables (and the ledger, for which batches
the pipeline sent): when either stream's cursor moved, one run refreshes both. The run key is the
pair of cursors, so the same input is refreshed once (a run that succeeded for it ends the
matter); a failed one is retried under `#n` after a backoff, and nothing is requested while a
refresh is in flight.
"""

import dagster as dg
from sqlalchemy import func, select

from intmax_assets.defs.run_status import IN_FLIGHT_STATUSES, prior_attempts
from intmax_assets.resources import WarehouseResource
from intmax_core.warehouse.schema import stream_cursors

SENSOR_INTERVAL_SECONDS = 30
INPUT_STREAMS = ("l1_liquidity", "l2_rollup")
REFRESHED = [dg.AssetKey("deposits"), dg.AssetKey("deposit_batches")]
REFRESH_WORK_TAG = "intmax/deposits_inputs"
IN_FLIGHT_RUNS_READ = 500


def _in_flight(instance: dg.DagsterInstance) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT_STATUSES), limit=IN_FLIGHT_RUNS_READ)
    return any(key in (run.asset_selection or ()) for run in runs for key in REFRESHED)


@dg.sensor(
    name="deposits_refresh_sensor",
    asset_selection=REFRESHED,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    required_resource_keys={"warehouse"},
    description="Refreshes deposits and deposit_batches when the l1_liquidity or l2_rollup cursor moved.",
)
def deposits_refresh_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    warehouse: WarehouseResource = context.resources.warehouse
    with warehouse.engine.connect() as connection:
        cursors = dict(
            connection.execute(
                select(stream_cursors.c.stream, func.max(stream_cursors.c.block_number))
                .where(stream_cursors.c.stream.in_(INPUT_STREAMS))
                .group_by(stream_cursors.c.stream)
            ).all()
        )
    if not cursors:
        return dg.SkipReason("nothing indexed yet")
    work = ",".join(f"{stream}@{cursors.get(stream, 0)}" for stream in INPUT_STREAMS)
    if _in_flight(context.instance):
        return dg.SkipReason("a refresh of deposits is already queued or running")
    attempts = prior_attempts(context.instance, REFRESH_WORK_TAG, work)
    if attempts.last_succeeded:
        return dg.SkipReason(f"up to date with {work}")
    if attempts.wait_seconds > 0:
        return dg.SkipReason(f"{work}: attempt {attempts.count} failed; retrying in {attempts.wait_seconds:.0f} s")
    return dg.RunRequest(run_key=attempts.run_key(f"deposits:{work}"), tags={REFRESH_WORK_TAG: work})
