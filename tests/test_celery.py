"""Distributed execution on Celery: an indexing backfill whose steps run on two `intmax worker` processes.

Real parts only: the session devnet with the whole INTMAX2 flow on it, a Redis broker (its own DB
number), a PostgreSQL Dagster instance from dagster_home/dagster.celery.yaml and a PostgreSQL
warehouse; the run is launched by `dagster asset materialize` in its own process, as the code
location would launch it, with INTMAX_EXECUTOR=celery.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import dagster as dg
import pytest
import redis
from dagster._core.instance.ref import InstanceRef
from web3 import Web3

from intmax_core.config import load_settings
from intmax_core.devnet_manifest import write_manifest
from intmax_core.indexing.streams import STREAMS
from intmax_core.warehouse import migrate
from intmax_devnet.anvil import stop_process_group
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan
from tests.conftest import PROJECT_ROOT, create_postgres_database, drop_postgres_database
from tests.devnet_activity import full_flow
from tests.indexing_helpers import assert_tables_equal_chain

pytestmark = pytest.mark.xdist_group("celery")

# The broker's own Redis DB: the API tests use DB 0 of the same server.
CELERY_REDIS_DB = 11
WORKER_NAMES = ("intmax-worker-a", "intmax-worker-b")
WORKER_START_TIMEOUT_SECONDS = 90
RUN_TIMEOUT_SECONDS = 120
PLAN = SimulationPlan(seed=31, users=2, deposits=4, withdrawals=2, builders=1, blocks=1)
ASSET_KEYS = [f"{stream.name}_events" for stream in STREAMS]
# The code location's module, as workspace.yaml loads it.
MATERIALIZE = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "intmax_assets.definitions", "-a", "defs"]


def _day(w3: Web3, block: int | str) -> date:
    return datetime.fromtimestamp(w3.eth.get_block(block)["timestamp"], UTC).date()


def _broker_url(redis_url: str) -> str:
    return urlunparse(urlparse(redis_url)._replace(path=f"/{CELERY_REDIS_DB}"))


@pytest.fixture
def warehouse() -> Iterator[str]:
    """A second PostgreSQL database for the warehouse (the `postgres_url` one holds the Dagster
    instance: both keep an `alembic_version` table, so they cannot share a database)."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def _start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "intmax_cli.main", "worker", "--name", name, "--concurrency", "1"]
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_until_ready(workers: dict[str, subprocess.Popen], logs: dict[str, Path]) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
    waiting = set(workers)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            assert workers[name].poll() is None, f"worker {name} exited:\n{logs[name].read_text()}"
            if " ready." in logs[name].read_text():
                waiting.discard(name)
        time.sleep(0.2)
    assert not waiting, f"workers not ready after {WORKER_START_TIMEOUT_SECONDS} s: {sorted(waiting)}"


def test_indexing_backfill_runs_its_steps_on_two_celery_workers(
    devnet: RunningDevnet, postgres_url: str, warehouse: str, redis_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    manifest = devnet.manifest
    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    migrate.upgrade(warehouse)
    full_flow(devnet, warehouse, PLAN)  # every stream gets events

    # The backfill: the two days ending with the chains' newest block, as one ranged run of the seven
    # stream assets (single-run backfill policy): seven steps, no dependencies between them.
    last_day = max(_day(l1, "latest"), _day(l2, "latest"))
    days = (last_day - timedelta(days=1), last_day)
    deployed = min(_day(w3, manifest.contracts[key].block_number) for w3, key in ((l1, "liquidity"), (l2, "rollup")))
    assert deployed >= days[0], "the session devnet is older than two days: the backfill would not cover it"

    write_manifest(tmp_path, manifest)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.celery.yaml", dagster_home / "dagster.yaml")
    broker = _broker_url(redis_url)
    redis.Redis.from_url(broker).flushdb()  # nothing left over from an interrupted earlier run
    dagster_postgres_url = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTMAX_", "DAGSTER_"))}
    env |= {
        "INTMAX_DATA_DIR": str(tmp_path),
        "INTMAX_DATABASE_URL": warehouse,
        "INTMAX_INDEXING_START_DATE": days[0].isoformat(),
        "INTMAX_EXECUTOR": "celery",
        "INTMAX_CELERY_BROKER_URL": broker,
        "INTMAX_DAGSTER_POSTGRES_URL": dagster_postgres_url,
        "DAGSTER_HOME": str(dagster_home),
    }

    logs = {name: tmp_path / f"{name}.log" for name in WORKER_NAMES}
    workers = {name: _start_worker(name, env, logs[name]) for name in WORKER_NAMES}
    try:
        # Both workers listen before the run submits its steps, so both can take some.
        _wait_until_ready(workers, logs)
        workers_ready = time.monotonic()
        launcher = subprocess.run(
            [*MATERIALIZE, "--select", ",".join(ASSET_KEYS), "--partition-range", f"{days[0]}...{days[1]}"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
        )
        run_finished = time.monotonic()
        worker_output = "\n".join(f"--- {name}\n{log.read_text()[-3000:]}" for name, log in logs.items())
        assert launcher.returncode == 0, f"{launcher.stderr[-4000:]}\n{worker_output}"

        os.environ["INTMAX_DAGSTER_POSTGRES_URL"] = dagster_postgres_url  # the instance YAML reads it
        try:
            with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
                (run,) = instance.get_runs()
                records = instance.all_logs(run.run_id)
        finally:
            del os.environ["INTMAX_DAGSTER_POSTGRES_URL"]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = [record.dagster_event for record in records if record.dagster_event is not None]

        # Every step ran in a Celery worker: dagster_celery's task reports which one ran it...
        ran_on = {
            event.step_key: event.event_specific_data.metadata["Celery worker"].value
            for event in events
            if event.is_engine_event and event.message and "in celery worker" in event.message
        }
        assert set(ran_on) == set(ASSET_KEYS)
        assert {worker.split("@")[0] for worker in ran_on.values()} == set(WORKER_NAMES), ran_on
        # ...and the steps' own events come from the workers' processes, not from the launching one.
        worker_groups = {workers[name].pid for name in WORKER_NAMES}
        step_pids = {event.pid for event in events if event.event_type == dg.DagsterEventType.STEP_START}
        assert len(step_pids) >= 2 and launcher_pid_not_in(step_pids, events)
        assert {os.getpgid(pid) for pid in step_pids} <= worker_groups

        # Both days of every stream are materialized, and every asset check passed.
        materialized = {
            (event.asset_key.path[-1], event.partition)
            for event in events
            if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        }
        assert materialized == {(key, day.isoformat()) for key in ASSET_KEYS for day in days}
        checks = [e.event_specific_data for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
        assert checks and all(check.passed for check in checks), [c.check_name for c in checks if not c.passed]
    finally:
        for worker in workers.values():
            stop_process_group(worker.pid, timeout=20)
        redis.Redis.from_url(broker).flushdb()

    # The warehouse holds exactly what the chains hold, every stream up to the head.
    settings = load_settings(data_dir=tmp_path, database_url=warehouse, indexing_start_date=days[0])
    counts = assert_tables_equal_chain(devnet, settings, warehouse)
    assert counts["Deposited"] >= PLAN.deposits and counts["BlockBuilderHeartbeat"] >= 1
    print(
        f"\ncelery backfill: workers ready {workers_ready - started:.1f} s after the start, "
        f"run {run_finished - workers_ready:.1f} s, total {time.monotonic() - started:.1f} s; steps per worker: "
        + ", ".join(f"{name}: {sum(w.startswith(name) for w in ran_on.values())}" for name in WORKER_NAMES)
    )


def launcher_pid_not_in(step_pids: set[int], events: list[dg.DagsterEvent]) -> bool:
    """The run's own process (RUN_START's pid) executed none of the steps."""
    (run_pid,) = {event.pid for event in events if event.event_type == dg.DagsterEventType.RUN_START}
    return run_pid not in step_pids
