"""What the sensors share: in-flight run statuses, and retrying a piece of work with backoff."""

import time
from dataclasses import dataclass

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

# Runs in flight are few (the queue runs a handful at once); this bounds the read.
IN_FLIGHT_RUNS_READ = 500


def in_flight_runs(instance: dg.DagsterInstance, job_name: str | None = None) -> list[dg.DagsterRun]:
    """Runs queued or running (of `job_name`, if given)."""
    return list(
        instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT_STATUSES), limit=IN_FLIGHT_RUNS_READ
        )
    )


def assets_in_flight(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> bool:
    """Whether a queued or running run (a sensor's, a backfill, one launched from the UI) selects any of `keys`."""
    return any(key in (run.asset_selection or ()) for run in in_flight_runs(instance) for key in keys)


# A retried piece of work waits 30 s, 60 s, 120 s ... after the previous attempt ended, at most 10 minutes.
RETRY_BACKOFF_SECONDS = 30
RETRY_BACKOFF_MAX_SECONDS = 600
# Earlier attempts read per tick; a piece of work retried more often than this waits the maximum anyway.
ATTEMPTS_READ = 100


def retry_backoff_seconds(attempt: int) -> float:
    return min(RETRY_BACKOFF_MAX_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1))


@dataclass(frozen=True)
class PriorAttempts:
    """Earlier runs of the same work (tagged `tag=work`): a run that did the work changes the work."""

    count: int
    wait_seconds: float  # > 0: the last attempt ended too recently to retry yet
    last_succeeded: bool = False  # the newest attempt ended in success (work that success does not change)

    def run_key(self, base: str) -> str:
        """`base` for the first attempt, `base#n` for the n-th retry (a run key is used only once)."""
        return base + (f"#{self.count}" if self.count else "")


def prior_attempts(instance: dg.DagsterInstance, tag: str, work: str) -> PriorAttempts:
    earlier = instance.get_run_records(filters=dg.RunsFilter(tags={tag: work}), limit=ATTEMPTS_READ)
    if not earlier:
        return PriorAttempts(0, 0.0)
    last = earlier[0]
    # A run that never started (canceled while queued) has no end time: its last update counts.
    ended = last.end_time or last.update_timestamp.timestamp()
    wait = retry_backoff_seconds(len(earlier)) - (time.time() - ended)
    return PriorAttempts(len(earlier), wait, last.dagster_run.status == dg.DagsterRunStatus.SUCCESS)
