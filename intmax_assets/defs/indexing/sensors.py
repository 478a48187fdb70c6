"""The cursor-driven tail: one sensor per chain requests indexing runs when new final blocks exist.

A tick reads the chain's safe head, the streams' cursors and the runs in flight, nothing more.
It requests one run for the chain's lagging streams that no run is writing (queued or running,
tail or backfill), with a run key made of where each stream's tail starts: the key names the
work, so the same work is never requested twice while it succeeds, and a run that ended without
moving a cursor (failed, or a lagging node) is retried under a numbered key after a backoff.
"""

from datetime import UTC, datetime

import dagster as dg

from intmax_assets.defs.indexing.assets import IndexingConfig, asset_key, resolved_source
from intmax_assets.defs.run_status import IN_FLIGHT_STATUSES, prior_attempts
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.blocks import get_block_headers
from intmax_core.config import Settings
from intmax_core.indexing import coverage
from intmax_core.indexing.day_boundaries import DayBoundaries
from intmax_core.indexing.indexer import safe_head
from intmax_core.indexing.streams import StreamSpec

SENSOR_INTERVAL_SECONDS = 30
# Runs in flight are few (the queue runs at most a handful at once); this bounds the read.
IN_FLIGHT_RUNS_READ = 500
TAIL_WORK_TAG = "intmax/tail_work"


def streams_in_flight(instance: dg.DagsterInstance, streams: list[StreamSpec]) -> set[str]:
    """Streams that a queued or running run will write (its asset selection names the stream's asset)."""
    keys = {asset_key(s): s.name for s in streams}
    busy: set[str] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT_STATUSES), limit=IN_FLIGHT_RUNS_READ):
        busy.update(name for key, name in keys.items() if key in (run.asset_selection or ()))
    return busy


def build_indexing_sensor(chain: str, streams: list[StreamSpec], settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{chain}_indexing_sensor",
        description=f"The {chain.upper()} tail: indexes from each stream's cursor when new final blocks exist.",
        asset_selection=[asset_key(s) for s in streams],
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse", chain},
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        warehouse: WarehouseResource = context.resources.warehouse
        chain_resource: ChainResource = getattr(context.resources, chain)
        configured = [s for s in streams if getattr(settings, f"{s.contract}_address")]
        if not configured:
            return dg.SkipReason(f"no {chain.upper()} contract is configured")
        with chain_resource.client() as client:
            chain_id = chain_resource.verified_chain_id(client)
            head = safe_head(client, chain_resource.confirmations)
            with warehouse.engine.connect() as connection:
                cursors = {s: coverage.read_cursor(connection, s.name, chain_id) for s in configured}
            boundaries = DayBoundaries(warehouse.engine, client, chain_id, head)
            next_blocks = {
                s: cursor.block_number + 1 if cursor else resolved_source(settings, s, boundaries).start_block
                for s, cursor in cursors.items()
            }
            lagging = [s for s in configured if next_blocks[s] <= head]
            if not lagging:
                return dg.SkipReason(f"no new final {chain.upper()} blocks (safe head {head})")
            busy = streams_in_flight(context.instance, lagging)
            ready = [s for s in lagging if s.name not in busy]
            if not ready:
                return dg.SkipReason(f"already queued or running: {', '.join(sorted(busy))}")
            head_time = datetime.fromtimestamp(get_block_headers(client, [head])[head].timestamp, UTC)
        work = ",".join(f"{s.name}@{next_blocks[s]}" for s in ready)
        attempts = prior_attempts(context.instance, TAIL_WORK_TAG, work)
        if attempts.wait_seconds > 0:
            # The same work ran before and the cursors did not move: retry, but not at every tick.
            return dg.SkipReason(
                f"{work}: attempt {attempts.count} ended without progress; retrying in {attempts.wait_seconds:.0f} s"
            )
        # The partition of the newest block the run may write (clamped to the partitions that exist).
        today = datetime.now(UTC).date()
        day = min(max(head_time.date(), settings.indexing_start_date), today)
        request = dg.RunRequest(
            run_key=attempts.run_key(f"tail:{chain}:{work}"),
            partition_key=day.isoformat(),
            asset_selection=[asset_key(s) for s in ready],
            run_config=dg.RunConfig(ops={asset_key(s).path[-1]: IndexingConfig(tail=True) for s in ready}),
            tags={"intmax/chain": chain, "intmax/run_kind": "tail", TAIL_WORK_TAG: work},
        )
        return dg.SensorResult(run_requests=[request])

    return _sensor
