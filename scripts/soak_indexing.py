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
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
import httpx  # noqa: E402
from dagster._core.definitions.run_request import InstigatorType  # noqa: E402
from dagster._core.events import DagsterEventType  # noqa: E402
from dagster._core.scheduler.instigation import InstigatorTick, TickStatus  # noqa: E402
from web3 import Web3  # noqa: E402

from intmax_core.devnet_manifest import DevnetManifest, manifest_path, read_manifest  # noqa: E402
from intmax_core.indexing.streams import STREAMS  # noqa: E402
from intmax_devnet import accounts  # noqa: E402
from intmax_devnet.anvil import process_group_alive, stop_process_group  # noqa: E402
from intmax_devnet.deployer import contract_at, transact  # noqa: E402
from intmax_devnet.devnet import DEFAULT_L1_PORT, DEFAULT_L2_PORT, web3_for  # noqa: E402
from intmax_devnet.devnet import down as devnet_down  # noqa: E402

INTMAX_BIN = PROJECT_ROOT / ".venv" / "bin" / "intmax"
DAGSTER_YAML = PROJECT_ROOT / "dagster_home" / "dagster.yaml"
ENV_PREFIX = "INTMAX_"

# `intmax up` starts anvil, deploys every contract, simulates activity, migrates, then starts the
# API and `dagster dev` (which loads the code location in a subprocess): on 2 shared cores this
# takes one to two minutes, so allow generously more before calling it a failure.
STARTUP_TIMEOUT_SECONDS = 300.0
STARTUP_POLL_SECONDS = 1.0
# SIGTERM lets `intmax up` stop Dagster (up to 30 s of its own), the API and the devnet in order.
STOP_TIMEOUT_SECONDS = 60.0
# Children that `intmax up` started in their own process groups, if it had to be killed.
ORPHAN_STOP_TIMEOUT_SECONDS = 10.0
# After the activity, wait for the tail to catch up: until no run has been queued or running for
# longer than one sensor interval (30 s) plus margin, so the last blocks get indexed and shutdown
# does not cut a run in half. Bounded, so a stuck run cannot hang the soak.
DRAIN_QUIET_SECONDS = 45.0
DRAIN_TIMEOUT_SECONDS = 240.0
DRAIN_POLL_SECONDS = 3.0
HTTP_TIMEOUT_SECONDS = 5.0
# The deposit is a token amount of ETH from an anvil-funded account (a million ETH each).
DEPOSIT_WEI = 10**15
HEARTBEAT_URL = "https://soak-builder.devnet.intmax.invalid"
# Lines of the child's output printed when it fails to start.
LOG_TAIL_LINES = 60
# Enough for any soak's ticks (a sensor ticks at most every 30 s) and runs.
TICKS_READ_LIMIT = 100_000
RUNS_READ_LIMIT = 100_000
# Frames of a failure's stack trace printed in the report (the innermost tell the most).
STACK_TAIL_FRAMES = 12
# The run statuses the indexing sensors count as in flight (sensors.IN_FLIGHT_STATUSES).
IN_FLIGHT_GRAPHQL_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
IN_FLIGHT_RUNS_QUERY = """
query InFlight($statuses: [RunStatus!]) {
  runsOrError(filter: {statuses: $statuses}) { ... on Runs { results { runId status } } }
}
"""
INDEXING_SENSORS = ("l1_indexing_sensor", "l2_indexing_sensor")
RUN_KIND_TAG = "intmax/run_kind"
# Every run imports the code location from the working tree when it starts: an edit made during
# the soak (others work in the same tree) can fail a run that the committed code would not.
SOURCE_PACKAGES = ("intmax_core", "intmax_assets", "intmax_devnet", "intmax_cli", "intmax_api")
STARTED_CHILD = re.compile(r"started (\w+) \(pid (\d+)\)")
TERMINAL_STATUSES = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


class SoakError(RuntimeError):
    pass


class Interrupted(BaseException):  # like KeyboardInterrupt: not an error of the soak
    pass


# --- the working area and the pipeline -------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class WorkArea:
    root: Path
    data_dir: Path
    dagster_home: Path
    log_path: Path
    api_port: int
    dagster_port: int

    @classmethod
    def create(cls) -> WorkArea:
        root = Path(tempfile.mkdtemp(prefix="intmax-soak-"))
        data_dir, dagster_home = root / "data", root / "dagster_home"
        data_dir.mkdir()
        dagster_home.mkdir()
        shutil.copy2(DAGSTER_YAML, dagster_home / "dagster.yaml")
        return cls(root, data_dir, dagster_home, root / "intmax-up.log", free_port(), free_port())

    def environment(self) -> dict[str, str]:
        # Inherited INTMAX_* variables (a configured chain, a PostgreSQL URL ...) would point the
        # soak at someone else's state: only the ones set here apply.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(
            {
                "INTMAX_DATA_DIR": str(self.data_dir),
                "INTMAX_API_PORT": str(self.api_port),
                "DAGSTER_HOME": str(self.dagster_home),
                "PYTHONUNBUFFERED": "1",  # the log shows progress as it happens
            }
        )
        return env


class Pipeline:
    """`intmax up` in its own process group, its output in a log file."""

    def __init__(self, area: WorkArea) -> None:
        self.area = area
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # `intmax up` always puts the devnet on anvil's default ports; fail clearly if they are taken.
        busy = [p for p in (DEFAULT_L1_PORT, DEFAULT_L2_PORT) if port_in_use(p)]
        if busy:
            raise SoakError(
                f"port(s) {', '.join(map(str, busy))} are in use (another devnet?); `intmax up` starts its devnet there"
            )
        if (PROJECT_ROOT / ".env").exists():
            print(f"warning: {PROJECT_ROOT / '.env'} exists; INTMAX_ settings in it still apply", file=sys.stderr)
        with open(self.area.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(INTMAX_BIN), "up", "--dagster-port", str(self.area.dagster_port)],
                cwd=PROJECT_ROOT,
                env=self.area.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.area.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise SoakError(f"`intmax up` exited with status {self.proc.returncode}")

    def wait_ready(self) -> DevnetManifest:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        manifest: DevnetManifest | None = None
        url = f"http://127.0.0.1:{self.area.dagster_port}/server_info"
        while time.monotonic() < deadline:
            self.check_alive()
            if manifest is None:
                with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
                    manifest = read_manifest(self.area.data_dir)
            if manifest is not None:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url, timeout=HTTP_TIMEOUT_SECONDS).status_code == 200:
                        return manifest
            time.sleep(STARTUP_POLL_SECONDS)
        missing = "the devnet manifest" if manifest is None else f"the Dagster UI ({url})"
        raise SoakError(f"{missing} did not appear within {STARTUP_TIMEOUT_SECONDS:.0f} s")

    def runs_in_flight(self) -> int | None:
        """Runs queued or running, from the Dagster UI's GraphQL (None if it does not answer)."""
        try:
            response = httpx.post(
                f"http://127.0.0.1:{self.area.dagster_port}/graphql",
                json={"query": IN_FLIGHT_RUNS_QUERY, "variables": {"statuses": list(IN_FLIGHT_GRAPHQL_STATUSES)}},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            return len(response.json()["data"]["runsOrError"]["results"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    def stop(self) -> str:
        """SIGTERM the process group, SIGKILL after STOP_TIMEOUT_SECONDS; returns how it ended."""
        if self.proc is None:
            return "not started"
        outcome = f"exited by itself with status {self.proc.returncode}" if self.proc.poll() is not None else ""
        if not outcome:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
                outcome = f"stopped by SIGTERM (status {self.proc.returncode})"
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                outcome = f"did not stop within {STOP_TIMEOUT_SECONDS:.0f} s of SIGTERM: killed"
        leftovers = self.stop_orphans()
        return outcome + (f"; stopped leftovers: {', '.join(leftovers)}" if leftovers else "")

    def stop_orphans(self) -> list[str]:
        """What `intmax up` started in other process groups and left behind (when it was killed)."""
        stopped = []
        with contextlib.suppress(OSError):
            for name, pid in STARTED_CHILD.findall(self.area.log_path.read_text(errors="replace")):
                if process_group_alive(int(pid)):
                    stop_process_group(int(pid), timeout=ORPHAN_STOP_TIMEOUT_SECONDS)
                    stopped.append(f"{name} (pid {pid})")
        # The devnet's anvil processes: their pids are in this soak's own manifest.
        if manifest_path(self.area.data_dir).exists():
            with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
                stopped += [f"anvil (pid {pid})" for pid in devnet_down(self.area.data_dir)]
        return stopped


def source_mtimes() -> dict[str, float]:
    return {
        str(path.relative_to(PROJECT_ROOT)): path.stat().st_mtime
        for package in SOURCE_PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
    }


def git_head() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"


def code_note(head_before: str, mtimes_before: dict[str, float]) -> str:
    after = source_mtimes()
    changed = sorted(p for p in after.keys() | mtimes_before.keys() if after.get(p) != mtimes_before.get(p))
    head_after = git_head()
    heads = head_before if head_after == head_before else f"{head_before} -> {head_after}"
    if not changed:
        return f"code: HEAD {heads}; no source file changed during the soak"
    return (
        f"code: HEAD {heads}; CHANGED during the soak (runs may have imported a half-edited tree): {', '.join(changed)}"
    )


# --- activity ----------------------------------------------------------------------------------
@dataclass
class ActivityReport:
    ticks: int = 0
    errors: list[str] = field(default_factory=list)
    l1_blocks: tuple[int, int] = (0, 0)
    l2_blocks: tuple[int, int] = (0, 0)


class Activity:
    """An L1 deposit to Liquidity and an L2 block builder heartbeat per tick, from anvil-funded accounts."""

    def __init__(self, manifest: DevnetManifest) -> None:
        self.l1 = web3_for(manifest.l1.rpc_url)
        self.l2 = web3_for(manifest.l2.rpc_url)
        self.liquidity = self._contract(self.l1, manifest, "liquidity")
        self.registry = self._contract(self.l2, manifest, "block_builder_registry")
        # Role 0 is unlocked and funded on both anvil chains, so anvil signs for it.
        self.sender = accounts.role("builder").address

    @staticmethod
    def _contract(w3: Web3, manifest: DevnetManifest, key: str):  # type: ignore[no-untyped-def]
        entry = manifest.contracts[key]
        return contract_at(w3, entry.contract, entry.address)

    def heads(self) -> tuple[int, int]:
        return self.l1.eth.block_number, self.l2.eth.block_number

    def tick(self) -> None:
        deposit = self.liquidity.functions.depositNativeToken(os.urandom(32), b"", b"")
        transact(self.l1, deposit, self.sender, value=DEPOSIT_WEI)
        transact(self.l2, self.registry.functions.emitHeartbeat(HEARTBEAT_URL), self.sender)


def run_activity(pipeline: Pipeline, activity: Activity, seconds: float, interval: float) -> ActivityReport:
    report = ActivityReport()
    deadline = time.monotonic() + seconds
    next_tick = time.monotonic()
    while time.monotonic() < deadline:
        pipeline.check_alive()
        try:
            activity.tick()
            report.ticks += 1
        except Exception as error:  # a failed tick is reported, the soak goes on
            report.errors.append(f"{type(error).__name__}: {error}")
        next_tick += interval
        time.sleep(max(0.0, min(next_tick, deadline) - time.monotonic()))
    return report


def drain(pipeline: Pipeline) -> str:
    """Wait until no run has been in flight for DRAIN_QUIET_SECONDS (bounded by DRAIN_TIMEOUT_SECONDS)."""
    start = time.monotonic()
    quiet_since: float | None = None
    while time.monotonic() - start < DRAIN_TIMEOUT_SECONDS:
        pipeline.check_alive()
        in_flight = pipeline.runs_in_flight()
        now = time.monotonic()
        if in_flight == 0:
            quiet_since = quiet_since or now
            if now - quiet_since >= DRAIN_QUIET_SECONDS:
                return f"quiet after {now - start:.0f} s"
        else:
            quiet_since = None
        time.sleep(DRAIN_POLL_SECONDS)
    return f"still busy after {DRAIN_TIMEOUT_SECONDS:.0f} s (runs in flight: {pipeline.runs_in_flight()})"


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


def first_error(instance: dg.DagsterInstance, run_id: str) -> tuple[str, str]:
    """(one-line message, tail of the stack) of the run's first failure event."""
    wanted = {DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE, DagsterEventType.ENGINE_EVENT}
    for entry in instance.all_logs(run_id, of_type=wanted):
        event = entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        if event is None or (error is None and event.event_type != DagsterEventType.RUN_FAILURE):
            continue
        if error is None:
            return event.message or entry.user_message or "run failed (no message)", ""
        # Dagster wraps the op's exception; the innermost cause names what went wrong and where.
        chain = [error]
        while chain[-1].cause is not None:
            chain.append(chain[-1].cause)
        message = " ".join(chain[-1].message.split())
        if len(chain) > 1:
            message += f" (raised in: {chain[0].message.strip().splitlines()[0]})"
        stack = next((e.stack for e in reversed(chain) if e.stack), [])
        return message, "".join(stack[-STACK_TAIL_FRAMES:])
    return "no failure event found", ""


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
