"""Watch the stages happen and narrate each one: what was seen, which asset, which Dagster run (id
and UI URL) and which API URL shows it.

The four tracks (deposits, withdrawals, builders, prices) advance side by side, each stage of a
track only after the previous one; every stage must be seen within its deadline, counted from the
previous stage of its track (the first from the moment the stack answered). The first stage that
misses its deadline ends the demo, named.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy.exc import OperationalError

from intmax_cli.demo_runs import DagsterRuns
from intmax_cli.demo_world import Sighting, Stage, World

POLL_SECONDS = 2.0
# After a stage is seen, how long to wait for the run that wrote it to finish (so it can be named).
RUN_SETTLE_SECONDS = 30.0


def elapsed(seconds: float) -> str:
    return f"+{int(seconds) // 60}m{int(seconds) % 60:02d}s"


@dataclass
class Seen:
    sighting: Sighting
    seen_at: float
    not_seen_at: float | None


@dataclass
class Track:
    stages: list[Stage]
    since: float  # when its current stage's deadline started counting (wall clock)
    position: int = 0
    not_seen_at: float | None = None
    seen: Seen | None = None  # the current stage, seen, waiting for its run to settle

    @property
    def current(self) -> Stage | None:
        return self.stages[self.position] if self.position < len(self.stages) else None


class StageMissed(Exception):
    def __init__(self, stage: Stage, waited: float, note: str) -> None:
        self.stage = stage
        super().__init__(
            f"stage '{stage.title}' ({stage.key}) was not observed within {stage.deadline_seconds:.0f} s "
            f"(waited {waited:.0f} s){f': {note}' if note else ''}"
        )


class OutOfTime(Exception):
    def __init__(self, pending: list[Stage], budget: float, notes: dict[str, str]) -> None:
        self.stages = pending
        names = ", ".join(f"'{stage.title}' ({stage.key})" for stage in pending)
        why = "; ".join(notes[stage.track] for stage in pending if stage.track in notes)
        super().__init__(
            f"the demo's time budget ({budget:.0f} s) ran out before stage {names} was observed"
            + (f": {why}" if why else "")
        )


class ChildExited(Exception):
    pass


class Observer:
    def __init__(
        self,
        stages: list[Stage],
        world: World,
        runs: DagsterRuns,
        children: dict[str, subprocess.Popen],
        started: float,
        budget: float,
        say: Callable[[str], None],
    ) -> None:
        self.world = world
        self.runs = runs
        self.children = children
        self.started = started
        self.budget = budget  # seconds from `started` for the whole demo, shutdown excluded
        self.say = say
        self.stages = stages
        self.done: list[str] = []

    def run(self, stack_up_at: float) -> None:
        """Return when every stage was seen; raise StageMissed, OutOfTime or ChildExited otherwise."""
        tracks: dict[str, Track] = {}
        for stage in self.stages:
            tracks.setdefault(stage.track, Track([], stack_up_at)).stages.append(stage)
        while any(track.current for track in tracks.values()):
            self._check_children()
            for track in tracks.values():
                self._step(track)
            pending = [track.current for track in tracks.values() if track.current is not None]
            if pending and time.time() - self.started > self.budget:
                raise OutOfTime(pending, self.budget, self.world.notes)
            if pending:
                time.sleep(POLL_SECONDS)

    def _check_children(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise ChildExited(f"the {name} process exited (code {child.returncode}); see its log")

    def _step(self, track: Track) -> None:
        stage = track.current
        while stage is not None:
            if track.seen is None:
                now = time.time()
                try:
                    sighting = stage.observe(self.world)
                except (OperationalError, httpx.HTTPError) as error:
                    # A busy SQLite file or an API restarting: not a verdict, look again next poll.
                    self.world.notes[stage.track] = f"last look failed: {type(error).__name__}: {error}"
                    sighting = None
                if sighting is None:
                    track.not_seen_at = now
                    waited = now - track.since
                    if waited > stage.deadline_seconds:
                        raise StageMissed(stage, waited, self.world.notes.get(stage.track, ""))
                    return
                track.seen = Seen(sighting, now, track.not_seen_at)
            seen = track.seen
            settling = time.time() - seen.seen_at < RUN_SETTLE_SECONDS
            if stage.sources and settling and self.runs.any_in_flight(stage.sources, seen.seen_at):
                return  # the run that wrote it is still finishing: name it once it has
            self._narrate(stage, seen)
            track.position += 1
            track.since, track.seen, track.not_seen_at = seen.seen_at, None, None
            stage = track.current  # a later stage may already be there too: look at once

    def _narrate(self, stage: Stage, seen: Seen) -> None:
        if stage.sources:
            run = self.runs.run_that_did_it(stage.sources, seen.not_seen_at, seen.seen_at)
            if run is None:
                origin = f"run: none found of {' or '.join(s.describe() for s in stage.sources)}"
            else:
                origin = f"run: {run.job_name} {run.run_id[:8]} {self.runs.run_url(run.run_id)}"
        else:
            origin = f"run: none ({stage.no_run})"
        self.say(f"{elapsed(seen.seen_at - self.started):>8}  {stage.title}: {seen.sighting.detail}")
        self.say(f"{'':>8}  asset: {stage.asset} | {origin} | API: {self.world.api_url}{seen.sighting.api_path}")
        self.done.append(stage.key)
        self._retire(stage)

    def _retire(self, stage: Stage) -> None:
        """Switch off the sensors and schedules that served only this stage and those before it: each of
        their runs costs a run process (5-10 s of CPU to import the code location) that later stages wait for."""
        for kind, name in stage.retires:
            try:
                status = self.runs.stop_schedule(name) if kind == "schedule" else self.runs.stop_sensor(name)
            except (RuntimeError, httpx.HTTPError) as error:  # the demo goes on; it only costs CPU
                self.say(f"{'':>8}  could not switch off {kind} {name}: {error}")
                continue
            self.say(f"{'':>8}  switched off {kind} {name} ({status}): nothing after this stage needs it")
