"""Sensors that keep derived assets current as the tail indexes new blocks.

A derived asset (deposits, withdrawal statuses, ...) changes only when one of its input streams
indexed more blocks. Such a sensor reads only those streams' cursors; the run key is the cursors,
so the same input is processed once (a run that succeeded for it ends the matter); a failed one is
retried under `#n` after a backoff, and nothing is requested while a run of the targets is in
flight.
"""

import dagster as dg
from sqlalchemy import func, select

from intmax_assets.defs.run_status import assets_in_flight, prior_attempts
from intmax_assets.resources import WarehouseResource
from intmax_core.warehouse.schema import stream_cursors

SENSOR_INTERVAL_SECONDS = 30


def build_cursor_sensor(
    name: str, input_streams: tuple[str, ...], targets: list[dg.AssetKey], description: str
) -> dg.SensorDefinition:
    work_tag = f"intmax/{name}_inputs"

    @dg.sensor(
        name=name,
        asset_selection=targets,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse"},
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.engine.connect() as connection:
            cursors = dict(
                connection.execute(
                    select(stream_cursors.c.stream, func.max(stream_cursors.c.block_number))
                    .where(stream_cursors.c.stream.in_(input_streams))
                    .group_by(stream_cursors.c.stream)
                ).all()
            )
        if not cursors:
            return dg.SkipReason("nothing indexed yet")
        work = ",".join(f"{stream}@{cursors.get(stream, 0)}" for stream in input_streams)
        if assets_in_flight(context.instance, targets):
            return dg.SkipReason(
                f"a run of {', '.join(k.to_user_string() for k in targets)} is already queued or running"
            )
        attempts = prior_attempts(context.instance, work_tag, work)
        if attempts.last_succeeded:
            return dg.SkipReason(f"up to date with {work}")
        if attempts.wait_seconds > 0:
            return dg.SkipReason(f"{work}: attempt {attempts.count} failed; retrying in {attempts.wait_seconds:.0f} s")
        return dg.RunRequest(run_key=attempts.run_key(f"{name}:{work}"), tags={work_tag: work})

    return _sensor
