"""`run_failure_alert_sensor`: a FATAL alert for every failed run of this code location's jobs.

Dagster's run-failure sensor reads run-failure events after its cursor, so each failed run is seen
once (and runs that failed while the daemon was down are caught up on). The alert's message names
the job, the run id and the failure's first error line; never a stack trace, and any configured
secret quoted by the error is redacted. The run id is part of the message, so two failed runs are
two alerts, and the suppression table (alert_deliveries) is a second guard against alerting one run
twice should the cursor ever be lost.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.

import dagster as dg

from intmax_assets.resources import WarehouseResource
from intmax_core.alerts import AlertLevel, notify, redact_secrets
from intmax_core.config import Settings

SERVICE = "dagster-run-failure"
SENSOR_NAME = "run_failure_alert_sensor"
# Dagster wraps an op's exception in this; the op's own error is its cause.
STEP_WRAPPER_ERROR = "DagsterExecutionStepExecutionError"
ERROR_LINE_MAX_CHARS = 300


def first_error_line(context: dg.RunFailureSensorContext) -> str:
    """The first line of the first failed step's error (the op's own exception), else the run's failure message."""
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cls_name == STEP_WRAPPER_ERROR and error.cause is not None:
            error = error.cause
        if error is not None and error.message.strip():
            step = f"step {event.step_key}: " if event.step_key else ""
            return step + _without_module_path(error.message.strip().splitlines()[0], error.cls_name)
    message = (context.failure_event.message or "").strip()
    return message.splitlines()[0] if message else "no error message"


def _without_module_path(line: str, cls_name: str | None) -> str:
    """`pkg.mod.SomeError: text` -> `SomeError: text`; a dg.Failure (the job's own words) -> `text`."""
    head, separator, rest = line.partition(": ")
    if not separator or not cls_name or not head.endswith(cls_name):
        return line
    return rest if cls_name == "Failure" else f"{cls_name}: {rest}"


def run_failure_message(context: dg.RunFailureSensorContext, settings: Settings) -> str:
    line = redact_secrets(first_error_line(context), settings)
    if len(line) > ERROR_LINE_MAX_CHARS:
        line = line[: ERROR_LINE_MAX_CHARS - 1] + "…"
    run = context.dagster_run
    return f"Job {run.job_name} failed (run {run.run_id}): {line}"


def build_run_failure_alert_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=SENSOR_NAME,
        monitor_all_code_locations=False,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts a FATAL alert (INTMAX_ALERT_WEBHOOK_URL) for every failed run of this code location's "
        "jobs: job, run id and the first error line.",
    )
    def run_failure_alert_sensor(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
        result = notify(
            settings, AlertLevel.FATAL, SERVICE, run_failure_message(context, settings), engine=warehouse.engine
        )
        context.log.info(f"run {context.dagster_run.run_id} failed; alert {result.status.value}")

    return run_failure_alert_sensor
