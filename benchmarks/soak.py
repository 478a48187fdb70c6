"""Soak: the whole pipeline under continuous activity and API load, for a settable time.

    .venv/bin/python benchmarks/soak.py --minutes 10 [--warmup-minutes 2] [--rate 20] [--keep]

It starts `intmax up` in a throwaway working area (its own data dir, DAGSTER_HOME and ports), then
for `--minutes`: sends an L1 deposit and an L2 builder heartbeat every `--activity-interval` seconds
(so the indexers, the deposit relay sensor, the mock relayer and the builder health schedule keep
working), drives the API at `--rate` requests per second over a mix of routes (reads, tx-map writes
and reads back), and samples the resident memory (RSS) of the API, the Dagster daemon, webserver and
code servers, and every run process alive at the time. Then it stops everything and reads the
Dagster instance for failed runs.

It prints errors (API 5xx/transport/unexpected statuses, failed activity ticks, failed runs), p50
and p99 latency after the warm-up, and each process role's RSS at the end of the warm-up and at the
end, with a Markdown block for the README. Exit 0 when there was no error and every role's memory
stayed within 10% of its post-warm-up value; 1 otherwise (naming what failed); 2 when the pipeline
could not start.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a file: make the project's packages importable
    sys.path.insert(0, str(PROJECT_ROOT))

import dagster as dg  # noqa: E402
import httpx  # noqa: E402

from benchmarks.api_load import ApiLoad, LoadReport, percentile  # noqa: E402
from benchmarks.pipeline_stack import (  # noqa: E402
    STARTED_CHILD,
    Activity,
    Interrupted,
    Pipeline,
    SoakError,
    WorkArea,
    code_note,
    first_error,
    git_head,
    source_mtimes,
)
from benchmarks.process_memory import LONG_LIVED_ROLES, ProcessMemory, sample, total_by_role  # noqa: E402

MEMORY_TOLERANCE = 0.10
API_READY_TIMEOUT_SECONDS = 60.0
MIB = 1024 * 1024


@dataclass
class Samples:
    """Memory samples: (seconds since the load started, processes)."""

    taken: list[tuple[float, list[ProcessMemory]]] = field(default_factory=list)

    def role_totals(self, since: float, until: float) -> list[dict[str, int]]:
        return [total_by_role(processes) for at, processes in self.taken if since <= at <= until]

    def run_peaks(self, since: float, until: float) -> list[int]:
        """Peak RSS of each run process first seen in [since, until]."""
        first_seen: dict[int, float] = {}
        peaks: dict[int, int] = {}
        for at, processes in self.taken:
            for process in processes:
                if process.role == "run":
                    first_seen.setdefault(process.pid, at)
                    peaks[process.pid] = max(peaks.get(process.pid, 0), process.rss_bytes)
        return [peaks[pid] for pid, at in first_seen.items() if since <= at <= until]


@dataclass
class MemoryRow:
    role: str
    warm: float  # bytes, median over the window after the warm-up
    end: float  # bytes, median over the last window

    @property
    def change(self) -> float:
        return (self.end - self.warm) / self.warm if self.warm else float("nan")

    @property
    def flat(self) -> bool:
        return self.warm > 0 and abs(self.change) <= MEMORY_TOLERANCE


def memory_rows(samples: Samples, warmup: float, end: float, window: float) -> list[MemoryRow]:
    """Each role's median RSS in the window right after the warm-up and in the last window.

    Medians over a window, not single samples: a code server's RSS steps while it serves a run's
    import, and one sample landing on such a step is not growth."""
    rows = []
    first, last = samples.role_totals(warmup, warmup + window), samples.role_totals(end - window, end)
    for role in LONG_LIVED_ROLES:
        warm_values = [totals[role] for totals in first if role in totals]
        end_values = [totals[role] for totals in last if role in totals]
        if warm_values and end_values:
            rows.append(MemoryRow(role, statistics.median(warm_values), statistics.median(end_values)))
    runs_first, runs_last = samples.run_peaks(warmup, warmup + window), samples.run_peaks(end - window, end)
    if runs_first and runs_last:
        rows.append(MemoryRow("run (peak per run)", statistics.median(runs_first), statistics.median(runs_last)))
    return rows


@dataclass
class RunCounts:
    total: int
    failed: int
    errors: list[str]
    cut_by_shutdown: int  # runs that ended, failed or were left queued once the soak began to stop


def count_runs(dagster_home: Path, stopping_at: float) -> RunCounts:
    """The soak's runs from its Dagster instance. Stopping `dagster dev` fails the runs it was still
    launching ("Tried to start a run on a server after telling it to shut down") and leaves queued
    ones queued: those are the stop's doing, counted apart, not failures of the pipeline."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records()
        before_stop = [r for r in records if r.end_time is not None and r.end_time < stopping_at]
        failed = [r.dagster_run for r in before_stop if r.dagster_run.status == dg.DagsterRunStatus.FAILURE]
        errors = [f"{run.job_name}: {first_error(instance, run.run_id)[0]}" for run in failed]
        return RunCounts(len(records), len(failed), errors, len(records) - len(before_stop))


def wait_for_api(base_url: str, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + API_READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        pipeline.check_alive()
        try:
            if httpx.get(f"{base_url}/v1/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SoakError(f"the API at {base_url} did not answer within {API_READY_TIMEOUT_SECONDS:.0f} s")


def run_soak(args: argparse.Namespace, pipeline: Pipeline, activity: Activity, load: ApiLoad) -> tuple[Samples, int]:
    """Activity ticks and memory samples until the time is up; returns the samples and failed ticks."""
    roots = [int(pid) for _, pid in STARTED_CHILD.findall(pipeline.area.log_path.read_text(errors="replace"))]
    samples, failed_ticks = Samples(), 0
    started = time.monotonic()
    next_tick = next_sample = started
    load.start()
    while (now := time.monotonic()) - started < args.minutes * 60:
        pipeline.check_alive()
        if now >= next_tick:
            try:
                activity.tick()
            except Exception as error:  # a failed tick is an error of the soak, which goes on
                failed_ticks += 1
                print(f"activity tick failed: {type(error).__name__}: {error}", file=sys.stderr)
            next_tick += args.activity_interval
        if now >= next_sample:
            samples.taken.append((now - started, sample(roots)))
            next_sample += args.sample_seconds
        time.sleep(max(0.0, min(next_tick, next_sample) - time.monotonic()))
    return samples, failed_ticks


def report(
    args: argparse.Namespace, load: LoadReport, rows: list[MemoryRow], ticks_failed: int, runs: RunCounts
) -> list[str]:
    """Print the results; returns what failed (empty when the soak passed)."""
    latencies = load.all_latencies(since=load.started_at + args.warmup_minutes * 60)
    problems = []
    if load.error_count:
        problems.append(f"{load.error_count} API errors (first: {'; '.join(load.errors[:3])})")
    if ticks_failed:
        problems.append(f"{ticks_failed} activity ticks failed")
    if runs.failed:
        problems.append(f"{runs.failed} failed runs ({'; '.join(runs.errors[:3])})")
    problems += [f"{row.role} memory changed {row.change:+.1%}" for row in rows if not row.flat]
    if not rows:
        problems.append("no memory samples")
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    lines = [
        f"#### Soak: {args.minutes:g} min ({args.warmup_minutes:g} min warm-up), {args.rate:g} API requests/s, "
        f"activity every {args.activity_interval:g} s",
        "",
        f"- API: {load.requests} requests, {load.error_count} errors; statuses {dict(sorted(load.statuses.items()))}; "
        f"after warm-up p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        f"- pipeline: {runs.total} runs, {runs.failed} failed, {runs.cut_by_shutdown} cut short by the stop; "
        f"{ticks_failed} failed activity ticks",
        "",
        "| process | RSS after warm-up | RSS at the end | change |",
        "|---|---|---|---|",
        *(f"| {r.role} | {r.warm / MIB:.0f} MiB | {r.end / MIB:.0f} MiB | {r.change:+.1%} |" for r in rows),
        "",
        f"verdict: {'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}",
    ]
    print("\n".join(lines))
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    parser.add_argument("--warmup-minutes", type=float, default=2.0, help="excluded from the baseline (default 2)")
    parser.add_argument("--rate", type=float, default=20.0, help="API requests per second (default 20)")
    parser.add_argument("--activity-interval", type=float, default=20.0, help="seconds between chain activity ticks")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--keep", action="store_true", help="keep the working area and print its path")
    args = parser.parse_args(argv)
    if min(args.minutes, args.rate, args.activity_interval, args.sample_seconds) <= 0 or args.warmup_minutes < 0:
        parser.error("--minutes, --rate, --activity-interval and --sample-seconds must be positive")
    if args.warmup_minutes * 2 > args.minutes:
        parser.error("--warmup-minutes must be at most half of --minutes (the baseline window follows it)")
    return args


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    area = WorkArea.create()
    area.settings["INTMAX_API_KEY"] = secrets.token_hex(16)
    pipeline = Pipeline(area)
    head_before, mtimes_before = git_head(), source_mtimes()
    base_url = f"http://127.0.0.1:{area.api_port}"
    load = ApiLoad(base_url, area.settings["INTMAX_API_KEY"], args.rate)
    try:
        print(f"working area {area.root}; API {base_url}, Dagster UI port {area.dagster_port}", file=sys.stderr)
        try:
            pipeline.start()
            manifest = pipeline.wait_ready()
            wait_for_api(base_url, pipeline)
            samples, ticks_failed = run_soak(args, pipeline, Activity(manifest), load)
            load_report = load.stop()
        except SoakError as error:
            print(f"soak: {error}\n--- last lines of `intmax up` ---\n{pipeline.log_tail()}", file=sys.stderr)
            return 2
        stopping_at = time.time()
        print(f"shutdown: {pipeline.stop()}", file=sys.stderr)
        print(code_note(head_before, mtimes_before), file=sys.stderr)
        end, window = args.minutes * 60, max(60.0, args.sample_seconds * 6)
        rows = memory_rows(samples, args.warmup_minutes * 60, end, window)
        return 1 if report(args, load_report, rows, ticks_failed, count_runs(area.dagster_home, stopping_at)) else 0
    except Interrupted as signame:
        print(f"soak: interrupted ({signame}); stopping", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the cleanup itself is not interrupted
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        load.stop()
        pipeline.stop()
        if args.keep:
            print(f"working area kept in {area.root}", file=sys.stderr)
        else:
            shutil.rmtree(area.root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
