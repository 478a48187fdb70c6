"""Run statuses the sensors share."""

import dagster as dg

# A run in any of these may still write what it was launched for: sensors never request a second
# run for the same work while one is here (CANCELING included: its step may still be writing).
IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
