"""The whole pipeline in a throwaway working area, with activity on its devnet: shared by the soaks.

`Pipeline` runs `intmax up` with its own data dir, DAGSTER_HOME and ports (so a developer's `.intmax/`
and `dagster_home/` are never touched), in its own process group with its output in a log file;
`Activity` sends an L1 deposit and an L2 block builder heartbeat per tick; `drain` waits until no run
is in flight; `code_note` says whether the source tree changed while runs were importing it.
"""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import httpx
from dagster._core.events import DagsterEventType
from web3 import Web3

from intmax_core.devnet_manifest import DevnetManifest, manifest_path, read_manifest
from intmax_devnet import accounts
from intmax_devnet.anvil import process_group_alive, stop_process_group
from intmax_devnet.deployer import contract_at, transact
from intmax_devnet.devnet import DEFAULT_L1_PORT, DEFAULT_L2_PORT, web3_for
from intmax_devnet.devnet import down as devnet_down

PROJECT_ROOT = Path(__file__).resolve().parent.parent
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
# The run statuses the indexing sensors count as in flight (sensors.IN_FLIGHT_STATUSES).
IN_FLIGHT_GRAPHQL_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
IN_FLIGHT_RUNS_QUERY = """
query InFlight($statuses: [RunStatus!]) {
  runsOrError(filter: {statuses: $statuses}) { ... on Runs { results { runId status } } }
}
"""
# Every run imports the code location from the working tree when it starts: an edit made during
# the soak (others work in the same tree) can fail a run that the committed code would not.
SOURCE_PACKAGES = ("intmax_core", "intmax_assets", "intmax_devnet", "intmax_cli", "intmax_api")
STARTED_CHILD = re.compile(r"started (\w+) \(pid (\d+)\)")


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
    # Extra INTMAX_* settings for the pipeline (e.g. an API key for a load generator).
    settings: dict[str, str] = field(default_factory=dict)

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
                **self.settings,
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


# Frames of a failure's stack trace printed in a report (the innermost tell the most).
STACK_TAIL_FRAMES = 12


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
