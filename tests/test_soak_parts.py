"""The soak benchmark's instruments measure what they claim: process roles and RSS from /proc, the
memory verdict, and the API load's error accounting against a real `intmax api`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.api import api_environment, free_port, seed_warehouse, server
from benchmarks.api_load import ApiLoad
from benchmarks.process_memory import ProcessMemory, role_of, sample
from benchmarks.soak import Samples, memory_rows

MIB = 1024 * 1024
# A child that holds ~40 MiB resident, so its RSS is clearly above an idle interpreter's.
HOLD_MEMORY = (
    "import sys, time; block = bytearray(40 * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); time.sleep(60)"
)
LOAD_SECONDS = 3.0
API_KEY = "soak-test-key"


@pytest.fixture
def process_tree() -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """A parent whose child's command line marks it as a run ('execute_run'), and an unrelated
    'code-server' process outside the tree."""
    # The marker is assembled at run time: the parent's own command line must not contain it.
    parent_code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', sys.argv[1], 'dagster', 'api', 'execute_' + 'run']); time.sleep(60)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code, HOLD_MEMORY, "intmax_cli.main api"], start_new_session=True
    )
    outsider = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "code-server"])
    try:
        yield parent, outsider
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the parent and its child
        outsider.kill()
        for process in (parent, outsider):
            process.wait()


def test_sample_finds_each_role_under_the_roots_with_its_resident_memory(process_tree) -> None:  # type: ignore[no-untyped-def]
    parent, outsider = process_tree
    deadline = time.monotonic() + 15
    while True:  # the child needs a moment to start and touch its memory
        found = {p.role: p for p in sample([parent.pid])}
        if (found.get("run") and found["run"].rss_bytes > 40 * MIB) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(found) == {"api", "run"}, found  # the outsider is not under the root
    assert found["api"].pid == parent.pid
    assert found["run"].pid != parent.pid and found["run"].rss_bytes > 40 * MIB
    assert found["api"].rss_bytes < found["run"].rss_bytes
    assert outsider.pid not in {p.pid for p in sample([parent.pid])}


def _samples(api_rss: list[float], run_peaks: list[tuple[float, int, float]]) -> Samples:
    """One API sample per 10 s (in MiB), and run processes (first seen at, pid, MiB)."""
    samples = Samples()
    for index, mib in enumerate(api_rss):
        at = index * 10.0
        processes = [ProcessMemory(1, "api", int(mib * MIB))]
        processes += [ProcessMemory(pid, "run", int(r * MIB)) for seen, pid, r in run_peaks if seen == at]
        samples.taken.append((at, processes))
    return samples


def test_memory_verdict_compares_medians_after_the_warm_up_with_the_end() -> None:
    # Warm-up (0-50 s) grows from 100 to 200 MiB; that is not counted. One spike after it is not growth.
    flat = _samples([100, 150, 200, 200, 200, 200, 205, 900, 200, 205, 208, 206, 207], [])
    (row,) = memory_rows(flat, warmup=60, end=120, window=30)
    assert row.role == "api" and row.flat, (row.warm / MIB, row.end / MIB)
    growing = _samples([100, 150, 200, 200, 200, 200, 200, 210, 220, 230, 240, 250, 260], [])
    (row,) = memory_rows(growing, warmup=60, end=120, window=30)
    assert not row.flat and row.change > 0.10


def test_memory_verdict_compares_run_processes_by_their_peaks() -> None:
    runs = [(60.0, 11, 100), (70.0, 12, 104), (110.0, 13, 130), (120.0, 14, 132)]
    rows = memory_rows(_samples([100] * 13, runs), warmup=60, end=120, window=20)
    run_row = next(r for r in rows if r.role.startswith("run"))
    assert run_row.warm == pytest.approx(102 * MIB, rel=0.01) and run_row.end == pytest.approx(131 * MIB, rel=0.01)
    assert not run_row.flat


@contextmanager
def running_api(tmp_path: Path, redis_url: str, rate_limit: int) -> Iterator[str]:
    warehouse_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    seed_warehouse(warehouse_url)
    port = free_port()
    env = api_environment(tmp_path, warehouse_url, redis_url) | {
        "INTMAX_API_KEY": API_KEY,
        "INTMAX_RATE_LIMIT": str(rate_limit),
        # Its own Redis database: the rate-limit counters of other tests' clients do not mix in.
        "INTMAX_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/7",
    }
    command = [sys.executable, "-m", "intmax_cli.main", "api", "--port", str(port)]
    with server(command, port, env, tmp_path / "api.log") as base:
        yield base


def test_api_load_reads_and_writes_without_error_against_the_real_api(tmp_path: Path, redis_url: str) -> None:
    """With the key, a low rate limit is skipped; tx-map entries are written and read back."""
    with running_api(tmp_path, redis_url, rate_limit=5) as base:
        load = ApiLoad(base, API_KEY, rate=40)
        load.start()
        time.sleep(LOAD_SECONDS)
        report = load.stop()
    assert report.error_count == 0, report.errors
    assert report.requests >= LOAD_SECONDS * 40 * 0.5
    assert report.statuses["200"] == report.requests
    assert len(load._digests) >= 5  # every tenth request writes one; every tenth + 5 reads one back
    assert len(report.all_latencies()) == report.requests


def test_api_load_counts_unexpected_statuses_and_transport_failures_as_errors(tmp_path: Path, redis_url: str) -> None:
    with running_api(tmp_path, redis_url, rate_limit=5) as base:
        load = ApiLoad(base, "not-the-key", rate=40)
        load.start()
        time.sleep(LOAD_SECONDS)
        report = load.stop()
    assert report.statuses["429"] > 0 and report.error_count >= report.statuses["429"], report.statuses
    assert any("status 429" in error for error in report.errors)
    gone = ApiLoad(f"http://127.0.0.1:{free_port()}", API_KEY, rate=20)
    gone.start()
    time.sleep(1.0)
    report = gone.stop()
    assert report.requests > 0 and report.error_count == report.requests
    assert all("ConnectError" in error for error in report.errors)


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        # What `dagster dev` starts: both get --code-server-log-level, which must not make them code servers.
        ("python -m dagster_webserver --port 3100 --code-server-log-level info -w workspace.yaml", "webserver"),
        ("python -m dagster._daemon run --log-level info --code-server-log-level info -w ws.yaml", "daemon"),
        ("python -m dagster api grpc --lazy-load-user-code --socket /tmp/x", "code server"),
        ("python -m dagster api execute_run {...}", "run"),
        # How the code server really starts a run: a multiprocessing spawn child (this was missed: no run row).
        (
            "python -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=7, pipe_handle=11) "
            "--multiprocessing-fork",
            "run",
        ),
        ("python -c from multiprocessing.resource_tracker import main;main(6)", None),
        ("python -m intmax_cli.main api", "api"),
        ("python -m dagster dev -w workspace.yaml", None),  # the supervisor itself holds little
    ],
)
def test_roles_are_recognised_from_the_command_lines_dagster_dev_uses(cmdline: str, role: str | None) -> None:
    assert role_of(cmdline) == role
