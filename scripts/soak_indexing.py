"""Soak the indexing tail: run the whole pipeline on a throwaway devnet and check its runs.

    .venv/bin/python scripts/soak_indexing.py --minutes 10 [--activity-interval 20] [--keep]

It starts `intmax up` in a temporary working area (its own data dir, DAGSTER_HOME and ports, so
the developer's `.intmax/` and `dagster_home/` are never touched), sends an L1 deposit and an L2
block builder heartbeat every few seconds for the whole duration, stops everything, and reads the
Dagster instance. It exits 0 only if

- no indexing stream ever had two runs executing at the same time,
- every stream had at most as many runs as sensor ticks that requested work for it, and
- no indexing run failed;

otherwise 1, naming each condition that failed (2 when the pipeline could not be started).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a file: make the project's packages importable
    sys.path.insert(0, str(PROJECT_ROOT))

import dagster as dg  # noqa: E402
from dagster._core.definitions.run_request import InstigatorType  # noqa: E402
from dagster._core.events import DagsterEventType  # noqa: E402
from dagster._core.scheduler.instigation import InstigatorTick, TickStatus  # noqa: E402

from benchmarks.pipeline_stack import (  # noqa: E402
    Activity,
    ActivityReport,
    Interrupted,
    Pipeline,
    SoakError,
    WorkArea,
    code_note,
    drain,
    first_error,
    git_head,
    run_activity,
    source_mtimes,
)
from intmax_core.indexing.streams import STREAMS  # noqa: E402

# Enough for any soak's ticks (a sensor ticks at most every 30 s) and runs.
TICKS_READ_LIMIT = 100_000
RUNS_READ_LIMIT = 100_000
INDEXING_SENSORS = ("l1_indexing_sensor", "l2_indexing_sensor")
RUN_KIND_TAG = "intmax/run_kind"
TERMINAL_STATUSES = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


# --- analysis ----------------------------------------------------------------------------------
def _timestamp(value: datetime) -> float:
    # Run storage returns naive UTC datetimes on SQLite.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """Most intervals [start, end) that contain one instant."""
    # At equal times an end sorts before a start: a run that starts as the previous one ends does not overlap.
    events = sorted((t, delta) for start, end in intervals for t, delta in ((start, 1), (end, -1)))
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


@dataclass
class StreamStats:
    runs: int = 0
    tail_runs: int = 0
    other_runs: int = 0
    ticks_with_work: int = 0
    max_running: int = 0
    max_in_flight: int = 0
    failed_runs: int = 0
    failed_checks: int = 0


@dataclass
class SensorStats:
    ticks: int = 0
    requested: int = 0
    skipped: int = 0
    failed: int = 0
    runs_requested: int = 0
    first_failure: str = ""


@dataclass
class Analysis:
    runs_total: int = 0
    runs_by_job: Counter[str] = field(default_factory=Counter)
    runs_by_status: Counter[str] = field(default_factory=Counter)
    streams: dict[str, StreamStats] = field(default_factory=dict)
    sensors: dict[str, SensorStats] = field(default_factory=dict)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)  # run id, job, streams, error


def failed_check_count(instance: dg.DagsterInstance, run_id: str) -> int:
    evaluations = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    return sum(
        1
        for entry in evaluations
        if entry.dagster_event is not None and not entry.dagster_event.event_specific_data.passed
    )


def tick_runs(tick: InstigatorTick) -> list[str]:
    return list(tick.run_ids or [])


def analyse(dagster_home: Path, soak_end: float) -> tuple[Analysis, dict[str, str]]:
    analysis = Analysis()
    stack_tails: dict[str, str] = {}
    stream_keys = {f"{stream.name}_events": stream.name for stream in STREAMS}
    analysis.streams = {stream.name: StreamStats() for stream in STREAMS}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(limit=RUNS_READ_LIMIT, ascending=True)
        streams_of_run: dict[str, list[str]] = {}
        running: dict[str, list[tuple[float, float]]] = {s: [] for s in analysis.streams}
        in_flight: dict[str, list[tuple[float, float]]] = {s: [] for s in analysis.streams}
        analysis.runs_total = len(records)
        for record in records:
            run = record.dagster_run
            analysis.runs_by_job[run.job_name] += 1
            analysis.runs_by_status[run.status.value] += 1
            keys = {key.to_user_string() for key in (run.asset_selection or ())}
            streams = [stream_keys[k] for k in sorted(keys) if k in stream_keys]
            streams_of_run[run.run_id] = streams
            # A run still in flight (or cut off by the shutdown) counts as running until the end.
            terminal = run.status in TERMINAL_STATUSES
            end = record.end_time or (_timestamp(record.update_timestamp) if terminal else soak_end)
            for stream in streams:
                stats = analysis.streams[stream]
                stats.runs += 1
                if run.tags.get(RUN_KIND_TAG) == "tail":
                    stats.tail_runs += 1
                else:
                    stats.other_runs += 1
                if record.start_time is not None:
                    running[stream].append((record.start_time, end))
                in_flight[stream].append((_timestamp(record.create_timestamp), end))
                if run.status == dg.DagsterRunStatus.FAILURE:
                    stats.failed_runs += 1
                stats.failed_checks += failed_check_count(instance, run.run_id)
            if run.status == dg.DagsterRunStatus.FAILURE:
                message, stack = first_error(instance, run.run_id)
                analysis.failures.append((run.run_id, run.job_name, ",".join(streams) or "-", message))
                stack_tails[run.run_id] = stack
        for stream, stats in analysis.streams.items():
            stats.max_running = max_overlap(running[stream])
            stats.max_in_flight = max_overlap(in_flight[stream])

        states = {
            state.instigator_name: state
            for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        }
        for name in INDEXING_SENSORS:
            sensor = analysis.sensors.setdefault(name, SensorStats())
            state = states.get(name)
            if state is None:
                continue
            for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=TICKS_READ_LIMIT):
                sensor.ticks += 1
                run_ids = tick_runs(tick)
                if tick.status == TickStatus.SKIPPED:
                    sensor.skipped += 1
                elif tick.status == TickStatus.FAILURE:
                    sensor.failed += 1
                    if tick.error and not sensor.first_failure:
                        sensor.first_failure = " ".join(tick.error.message.split())
                if run_ids:
                    sensor.requested += 1
                    sensor.runs_requested += len(run_ids)
                for stream in {s for run_id in run_ids for s in streams_of_run.get(run_id, [])}:
                    analysis.streams[stream].ticks_with_work += 1
    return analysis, stack_tails


# --- report ------------------------------------------------------------------------------------
def table(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(analysis: Analysis) -> list[str]:
    problems = []
    overlapping = [f"{s} ({st.max_running})" for s, st in analysis.streams.items() if st.max_running > 1]
    if overlapping:
        problems.append(f"two or more runs of one stream executing at once: {', '.join(overlapping)}")
    excess = [
        f"{s} ({st.runs} > {st.ticks_with_work})" for s, st in analysis.streams.items() if st.runs > st.ticks_with_work
    ]
    if excess:
        problems.append(f"more runs than sensor ticks with work: {', '.join(excess)}")
    failed = [f"{s} ({st.failed_runs})" for s, st in analysis.streams.items() if st.failed_runs]
    if failed:
        problems.append(f"indexing runs failed: {', '.join(failed)}")
    return problems


def print_report(
    args: argparse.Namespace,
    area: WorkArea,
    activity: ActivityReport,
    analysis: Analysis,
    stack_tails: dict[str, str],
    notes: list[str],
) -> list[str]:
    jobs = ", ".join(f"{job} {n}" for job, n in sorted(analysis.runs_by_job.items())) or "none"
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(analysis.runs_by_status.items())) or "none"
    print(f"\n## Indexing soak: {args.minutes:g} min, activity every {args.activity_interval:g} s\n")
    summary = [
        ("activity ticks (L1 deposit + L2 heartbeat)", f"{activity.ticks} ({len(activity.errors)} failed)"),
        ("new L1 blocks", new_blocks(activity.l1_blocks)),
        ("new L2 blocks", new_blocks(activity.l2_blocks)),
        ("runs launched", f"{analysis.runs_total} (by job: {jobs})"),
        ("runs by status", statuses),
        ("failed runs", len(analysis.failures)),
        *notes_rows(notes),
    ]
    print(table(["what", "value"], summary))
    print()
    print(
        table(
            [
                "stream",
                "runs",
                "tail",
                "other",
                "ticks with work",
                "max running at once",
                "max queued+running",
                "failed runs",
                "failed checks",
            ],
            [
                (
                    s,
                    st.runs,
                    st.tail_runs,
                    st.other_runs,
                    st.ticks_with_work,
                    st.max_running,
                    st.max_in_flight,
                    st.failed_runs,
                    st.failed_checks,
                )
                for s, st in analysis.streams.items()
            ],
        )
    )
    print()
    print(
        table(
            ["sensor", "ticks", "requested runs", "skipped", "failed", "runs requested"],
            [(n, s.ticks, s.requested, s.skipped, s.failed, s.runs_requested) for n, s in analysis.sensors.items()],
        )
    )
    for name, sensor in analysis.sensors.items():
        if sensor.first_failure:
            print(f"\n{name}: first failed tick: {sensor.first_failure}")
    if activity.errors:
        print("\nActivity errors (first 5):")
        for error in activity.errors[:5]:
            print(f"- {error}")
    if analysis.failures:
        print("\n### Failed runs\n")
        print(table(["run", "job", "streams", "first error"], analysis.failures))
        for run_id, stack in stack_tails.items():
            if stack:
                print(f"\n{run_id} (innermost frames):\n{stack.rstrip()}")
    problems = verdict(analysis)
    print()
    if problems:
        print("FAIL:")
        for problem in problems:
            print(f"- {problem}")
    else:
        print("PASS: no stream had two runs at once, runs <= ticks with work, no indexing run failed")
    if args.keep:
        print(f"\nkept: {area.root} (data {area.data_dir}, DAGSTER_HOME {area.dagster_home}, log {area.log_path})")
    return problems


def new_blocks(heads: tuple[int, int]) -> str:
    return f"{heads[1] - heads[0]} (head {heads[0]} -> {heads[1]})"


def notes_rows(notes: list[str]) -> Iterator[tuple[str, str]]:
    for note in notes:
        name, _, value = note.partition(": ")
        yield name, value


# --- main --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to generate activity (default 10)")
    parser.add_argument(
        "--activity-interval", type=float, default=20.0, help="seconds between activity ticks (default 20)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories and print their paths")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.activity_interval <= 0:
        parser.error("--minutes and --activity-interval must be positive")
    return args


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    area = WorkArea.create()
    pipeline = Pipeline(area)
    notes: list[str] = []
    head_before, mtimes_before = git_head(), source_mtimes()
    try:
        print(f"working area {area.root}; API port {area.api_port}, Dagster UI port {area.dagster_port}")
        started = time.monotonic()
        try:
            pipeline.start()
            manifest = pipeline.wait_ready()
        except SoakError as error:
            print(f"soak: could not start the pipeline: {error}", file=sys.stderr)
            print(f"--- last lines of `intmax up` ({area.log_path}) ---\n{pipeline.log_tail()}", file=sys.stderr)
            return 2
        notes.append(f"startup: {time.monotonic() - started:.0f} s until the devnet and Dagster UI answered")
        print(f"pipeline up after {time.monotonic() - started:.0f} s; activity for {args.minutes:g} min")
        try:
            chains = Activity(manifest)
            heads_before = chains.heads()
            activity = run_activity(pipeline, chains, args.minutes * 60, args.activity_interval)
            print(f"activity done ({activity.ticks} ticks); waiting for the tail to catch up")
            notes.append(f"drain: {drain(pipeline)}")
            # New blocks over the soak, the relayers' transactions during the drain included.
            heads_after = chains.heads()
            activity.l1_blocks = (heads_before[0], heads_after[0])
            activity.l2_blocks = (heads_before[1], heads_after[1])
        except SoakError as error:
            print(f"soak: {error}", file=sys.stderr)
            print(f"--- last lines of `intmax up` ({area.log_path}) ---\n{pipeline.log_tail()}", file=sys.stderr)
            return 2
        soak_end = time.time()
        notes.append(f"shutdown: {pipeline.stop()}")
        notes.append(code_note(head_before, mtimes_before))
        analysis, stack_tails = analyse(area.dagster_home, soak_end)
        return 1 if print_report(args, area, activity, analysis, stack_tails, notes) else 0
    except Interrupted as signame:
        print(f"soak: interrupted ({signame}); stopping", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the cleanup itself is not interrupted
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pipeline.stop()
        if args.keep:
            print(f"temporary files kept in {area.root}", file=sys.stderr)
        else:
            shutil.rmtree(area.root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
