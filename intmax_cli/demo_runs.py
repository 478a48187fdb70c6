"""Which Dagster run did a step of the demo: asked of the running webserver's GraphQL API.

A step is observed in the warehouse (or on a chain); the run that made it is a successful run of
the step's job, sensor or schedule (`runsOrError` filtered by job name or by the
`dagster/sensor_name` / `dagster/schedule_name` tag). Of those, the run that ended in the window
between the last poll that did not see the step and the one that did is the one that wrote it;
when the step was already there at the first look, it is the newest one that started before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

RUNS_QUERY = """
query DemoRuns($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { runId jobName status creationTime startTime endTime } }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
  }
}
"""
SENSOR_STATE_QUERY = """
query DemoSensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { id status } }
    ... on SensorNotFoundError { message }
    ... on PythonError { message }
  }
}
"""
STOP_SENSOR_MUTATION = """
mutation DemoStopSensor($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""
SCHEDULE_STATE_QUERY = """
query DemoSchedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule { scheduleState { id status } }
    ... on ScheduleNotFoundError { message }
    ... on PythonError { message }
  }
}
"""
STOP_SCHEDULE_MUTATION = """
mutation DemoStopSchedule($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""
# workspace.yaml's location; a Definitions object is served as the repository "__repository__".
LOCATION_NAME = "intmax"
REPOSITORY_NAME = "__repository__"
# Runs of one source looked at per query: a demo makes a few dozen in all.
RUNS_READ_LIMIT = 50
GRAPHQL_TIMEOUT_SECONDS = 10.0
SENSOR_TAG = "dagster/sensor_name"
SCHEDULE_TAG = "dagster/schedule_name"
IN_FLIGHT = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")


@dataclass(frozen=True)
class RunSource:
    """Where a step's runs come from: a job (sensor- or schedule-requested) or an asset sensor/schedule."""

    job: str | None = None
    sensor: str | None = None
    schedule: str | None = None

    def filter(self) -> dict[str, object]:
        tags = [{"key": SENSOR_TAG, "value": self.sensor}] if self.sensor else []
        tags += [{"key": SCHEDULE_TAG, "value": self.schedule}] if self.schedule else []
        return {"pipelineName": self.job, "tags": tags or None}

    def describe(self) -> str:
        by = f"sensor {self.sensor}" if self.sensor else f"schedule {self.schedule}" if self.schedule else ""
        return " ".join(part for part in (self.job, f"({by})" if self.job and by else by) if part)


@dataclass(frozen=True)
class DagsterRun:
    run_id: str
    job_name: str
    status: str
    created: float
    started: float | None
    ended: float | None


@dataclass
class DagsterRuns:
    """The demo's client of `dagster dev`'s GraphQL endpoint."""

    ui_url: str  # http://127.0.0.1:<port>
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=GRAPHQL_TIMEOUT_SECONDS))

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/runs/{run_id}"

    def runs(self, source: RunSource, statuses: tuple[str, ...] | None = None) -> list[DagsterRun]:
        """Runs of `source`, newest first."""
        run_filter = {key: value for key, value in source.filter().items() if value is not None}
        if statuses:
            run_filter["statuses"] = list(statuses)
        result = self._graphql(RUNS_QUERY, {"filter": run_filter, "limit": RUNS_READ_LIMIT})["runsOrError"]
        if result["__typename"] != "Runs":
            raise RuntimeError(f"Dagster runsOrError: {result.get('message', result['__typename'])}")
        return [
            DagsterRun(r["runId"], r["jobName"], r["status"], r["creationTime"], r["startTime"], r["endTime"])
            for r in result["results"]
        ]

    def any_in_flight(self, sources: tuple[RunSource, ...], started_before: float) -> bool:
        """Whether a run of `sources` created before `started_before` is still queued or running."""
        return any(run.created <= started_before for s in sources for run in self.runs(s, IN_FLIGHT))

    def run_that_did_it(
        self, sources: tuple[RunSource, ...], not_seen_at: float | None, seen_at: float
    ) -> DagsterRun | None:
        """The successful run that most likely wrote what was first seen at `seen_at` (see module doc)."""
        done = [run for s in sources for run in self.runs(s, ("SUCCESS",)) if run.created <= seen_at]
        if not_seen_at is not None:
            in_window = sorted(
                (run for run in done if run.ended is not None and run.ended >= not_seen_at), key=lambda r: r.ended
            )
            if in_window:
                return in_window[0]
        return max(done, key=lambda run: run.started or run.created, default=None)

    def stop_sensor(self, name: str) -> str:
        """Switch a sensor off, as its toggle in the UI does; returns its new status."""
        selector = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME, "sensorName": name}
        found = self._graphql(SENSOR_STATE_QUERY, {"selector": selector})["sensorOrError"]
        if found["__typename"] != "Sensor":
            raise RuntimeError(f"Dagster sensorOrError({name}): {found.get('message', found['__typename'])}")
        stopped = self._graphql(STOP_SENSOR_MUTATION, {"id": found["sensorState"]["id"]})["stopSensor"]
        if stopped["__typename"] != "StopSensorMutationResult":
            raise RuntimeError(f"Dagster stopSensor({name}): {stopped.get('message', stopped['__typename'])}")
        return str(stopped["instigationState"]["status"])

    def stop_schedule(self, name: str) -> str:
        """Switch a schedule off, as its toggle in the UI does; returns its new status."""
        selector = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME, "scheduleName": name}
        found = self._graphql(SCHEDULE_STATE_QUERY, {"selector": selector})["scheduleOrError"]
        if found["__typename"] != "Schedule":
            raise RuntimeError(f"Dagster scheduleOrError({name}): {found.get('message', found['__typename'])}")
        stopped = self._graphql(STOP_SCHEDULE_MUTATION, {"id": found["scheduleState"]["id"]})["stopRunningSchedule"]
        if stopped["__typename"] != "ScheduleStateResult":
            raise RuntimeError(f"Dagster stopRunningSchedule({name}): {stopped.get('message', stopped['__typename'])}")
        return str(stopped["scheduleState"]["status"])

    def _graphql(self, query: str, variables: dict[str, object]) -> dict[str, Any]:
        answer = self.client.post(f"{self.ui_url}/graphql", json={"query": query, "variables": variables})
        answer.raise_for_status()
        body = answer.json()
        if body.get("errors"):
            raise RuntimeError(f"Dagster GraphQL: {body['errors'][0].get('message')}")
        return body["data"]

    def close(self) -> None:
        self.client.close()
