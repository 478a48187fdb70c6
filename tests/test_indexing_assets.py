"""The indexing assets in Dagster: daily partitions mapped exactly to blocks, out-of-order backfills,
asset checks, and the sensor that keeps today fresh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs import run_status
from intmax_assets.defs.indexing import asset_key, build_stream_asset
from intmax_core.chain.rpc import RpcClient
from intmax_core.config import Settings, load_settings
from intmax_core.devnet_manifest import write_manifest
from intmax_core.indexing import coverage
from intmax_core.indexing.day_boundaries import DayBoundaries
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import chain_day_boundaries
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, start_devnet, web3_for
from tests.chain_oracle import chain_rows, table_rows
from tests.conftest import PROJECT_ROOT
from tests.devnet_activity import contract

LIQUIDITY = STREAMS_BY_NAME["l1_liquidity"]


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# Deposits at the edges of three UTC days; the chains start on the evening of the first.
GENESIS = at("2026-01-01T23:50:00")
DEPOSIT_TIMES = [
    "2026-01-01T23:59:58",
    "2026-01-01T23:59:59",  # the last second of day 1
    "2026-01-02T00:00:00",  # the first second of day 2
    "2026-01-02T12:00:00",
    "2026-01-03T00:00:00",
    "2026-01-03T06:00:00",
]


@pytest.fixture(scope="module")
def dated_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningDevnet, dict[str, int]]]:
    """A devnet whose history spans three past days; returns it and the block of each deposit."""
    devnet = start_devnet(tmp_path_factory.mktemp("dated-devnet"), genesis_timestamp=GENESIS)
    try:
        l1 = web3_for(devnet.manifest.l1.rpc_url)
        liquidity = contract(l1, devnet.manifest, "liquidity")
        blocks = {}
        for moment in DEPOSIT_TIMES:
            l1.provider.make_request("evm_setNextBlockTimestamp", [at(moment)])
            receipt = transact(
                l1,
                liquidity.functions.depositNativeToken(os.urandom(32), b"", b""),
                accounts.role("builder").address,
                value=10**15,
            )
            blocks[moment] = receipt["blockNumber"]
        yield devnet, blocks
    finally:
        devnet.stop()


@pytest.fixture
def dated_settings(dated_devnet, tmp_path: Path) -> Settings:
    devnet, _ = dated_devnet
    write_manifest(tmp_path, devnet.manifest)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    settings = load_settings(data_dir=tmp_path, database_url=url)
    assert settings.indexing_start_date.isoformat() == "2026-01-01"
    return settings


def test_partition_maps_exactly_to_the_day_and_the_boundaries_are_kept(dated_devnet, dated_settings) -> None:
    _devnet, blocks = dated_devnet
    engine = make_engine(dated_settings.warehouse_url)
    with RpcClient(dated_settings.l1_rpc_urls) as client:
        head = client.block_number()
        boundaries = DayBoundaries(engine, client, client.chain_id(), head)
        assert boundaries.block_range(date(2026, 1, 2)) == (
            blocks["2026-01-02T00:00:00"],
            blocks["2026-01-02T12:00:00"],
        )
        day1 = boundaries.block_range(date(2026, 1, 1))
        assert day1 is not None and day1[0] == 0 and day1[1] == blocks["2026-01-01T23:59:59"]
        assert boundaries.block_range(date(2026, 1, 3)) == (blocks["2026-01-03T00:00:00"], head)
        assert boundaries.block_range(date(2026, 1, 4)) is None
        # Two days at once (a ranged backfill run): from the first day's first block to the last's last.
        assert boundaries.block_range(date(2026, 1, 2), date(2026, 1, 4)) == (blocks["2026-01-02T00:00:00"], head)
        assert boundaries.header_requests > 0
        # Final boundaries are stored: another run maps the same days without a header request, and
        # the boundary of a day with no final block yet is not stored (it is not known).
        again = DayBoundaries(engine, client, client.chain_id(), head)
        assert again.block_range(date(2026, 1, 2)) == boundaries.block_range(date(2026, 1, 2))
        assert again.header_requests == 0
        with engine.connect() as connection:
            stored = dict(
                connection.execute(select(chain_day_boundaries.c.day, chain_day_boundaries.c.first_block))
                .tuples()
                .all()
            )
        assert stored == {
            date(2026, 1, 1): 0,
            date(2026, 1, 2): blocks["2026-01-02T00:00:00"],
            date(2026, 1, 3): blocks["2026-01-03T00:00:00"],
        }
        # A node that reports a lower safe head does not see boundaries above it.
        behind = DayBoundaries(engine, client, client.chain_id(), blocks["2026-01-02T12:00:00"])
        assert behind.block_range(date(2026, 1, 3)) is None
    engine.dispose()


def _materialize(settings: Settings, day: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_stream_asset(LIQUIDITY, settings)],
        partition_key=day,
        resources=build_resources(settings),
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _rows(devnet: RunningDevnet, settings: Settings) -> dict[str, set[tuple]]:
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    return table_rows(
        make_engine(settings.warehouse_url), l1.eth.chain_id, LIQUIDITY, stream_source(settings, LIQUIDITY).address
    )


def test_out_of_order_backfill_and_rematerialization(dated_devnet, dated_settings: Settings) -> None:
    devnet, blocks = dated_devnet
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    deposited = lambda: {row[0] for row in _rows(devnet, dated_settings)["Deposited"]}  # noqa: E731

    day3 = _materialize(dated_settings, "2026-01-03")
    assert day3.success
    assert deposited() == {blocks["2026-01-03T00:00:00"], blocks["2026-01-03T06:00:00"]}
    metadata = day3.asset_materializations_for_node(asset_key(LIQUIDITY).path[-1])[0].metadata
    assert metadata["run_kind"].value == "partition"
    assert metadata["run_events_Deposited"].value == 2
    assert metadata["partition_events_total"].value == 2 and metadata["partition_complete"].value is True
    assert metadata["partition_blocks"].value == f"{blocks['2026-01-03T00:00:00']:,}..{l1.eth.block_number:,}"
    # Days 1 and 2 are still missing: the coverage check says so.
    assert _checks(day3)["no_missing_block_ranges"] is False

    day1 = _materialize(dated_settings, "2026-01-01")
    assert deposited() == {blocks[t] for t in DEPOSIT_TIMES if t.startswith(("2026-01-01", "2026-01-03"))}
    assert _checks(day1)["no_missing_block_ranges"] is False

    day2 = _materialize(dated_settings, "2026-01-02")
    checks = _checks(day2)
    assert checks == {
        "cursor_matches_chain": True,
        "no_missing_block_ranges": True,
        "recent_blocks_canonical": True,
        "log_counts_match_chain": True,
        "cursor_lag_blocks": True,
        "deposit_ids_contiguous": True,
    }
    complete = _rows(devnet, dated_settings)
    assert complete == chain_rows(l1, devnet.manifest, LIQUIDITY, l1.eth.block_number)

    # Re-materializing a day replaces its rows with identical ones.
    assert _materialize(dated_settings, "2026-01-01").success
    assert _rows(devnet, dated_settings) == complete


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, settings: Settings) -> dg.SensorResult:
    sensor = defs.get_sensor_def("l1_indexing_sensor")
    context = dg.build_sensor_context(instance=instance, resources=build_resources(settings), definitions=defs)
    return sensor.evaluate_tick(context)


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        run_config=request.run_config,
        instance=instance,
        tags=request.tags,
    )


L1_STREAMS = ("l1_liquidity", "l1_scroll_messenger", "l1_minter")


def test_tail_runs_are_keyed_by_the_cursors_and_never_doubled(dated_devnet, dated_settings: Settings) -> None:
    devnet, _ = dated_devnet
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    defs = build_definitions(dated_settings)
    starts = {name: stream_source(dated_settings, STREAMS_BY_NAME[name]).deployed_block for name in L1_STREAMS}
    head_day = datetime.fromtimestamp(l1.eth.get_block("latest")["timestamp"], UTC).date().isoformat()
    with dg.instance_for_test() as instance:
        (request,) = _tick(defs, instance, dated_settings).run_requests or []
        # One run for the chain's lagging streams, keyed by where each tail starts (not by the head).
        work = ",".join(f"{name}@{starts[name]}" for name in L1_STREAMS)
        assert request.run_key == f"tail:l1:{work}"
        assert request.partition_key == head_day
        assert {k.path[-1] for k in request.asset_selection} == {f"{name}_events" for name in L1_STREAMS}

        # While that run is in flight, no tick asks for the same streams again, whatever the head does.
        job = defs.resolve_implicit_global_asset_job_def()
        queued = instance.create_run_for_job(
            job_def=job, status=dg.DagsterRunStatus.STARTED, asset_selection=set(request.asset_selection)
        )
        l1.provider.make_request("evm_mine", [])
        skipped = _tick(defs, instance, dated_settings)
        assert not skipped.run_requests and "already queued or running" in (skipped.skip_message or "")
        instance.delete_run(queued.run_id)

        outcome = _run(defs, instance, request)
        assert outcome.success
        metadata = outcome.asset_materializations_for_node("l1_liquidity_events")[0].metadata
        assert metadata["run_kind"].value == "tail"
        head = l1.eth.block_number
        assert metadata["run_blocks"].value == f"{starts['l1_liquidity']:,}..{head:,}"
        # The tail's partition is the head's day; what that day holds is reported as such.
        assert metadata["partition_complete"].value is True
        assert (metadata["cursor_block"].value, metadata["lag_blocks"].value) == (head, 0)
        assert {e.check_name: e.passed for e in outcome.get_asset_check_evaluations()}["cursor_lag_blocks"]

        # Everything final is indexed: the next tick asks for nothing.
        idle = _tick(defs, instance, dated_settings)
        assert not idle.run_requests and "no new final L1 blocks" in (idle.skip_message or "")

        # New blocks: the next run starts at the cursors, under a new key.
        l1.provider.make_request("evm_mine", [])
        (following,) = _tick(defs, instance, dated_settings).run_requests or []
        assert following.run_key == "tail:l1:" + ",".join(f"{name}@{head + 1}" for name in L1_STREAMS)


def test_a_tail_run_without_progress_is_retried_after_a_backoff(
    dated_devnet, dated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _devnet, _ = dated_devnet
    defs = build_definitions(dated_settings)
    with dg.instance_for_test() as instance:
        (request,) = _tick(defs, instance, dated_settings).run_requests or []
        # The run ends without moving any cursor (as when the RPC fails): same work, same key.
        job = defs.resolve_implicit_global_asset_job_def()
        failed = instance.create_run_for_job(
            job_def=job,
            status=dg.DagsterRunStatus.FAILURE,
            asset_selection=set(request.asset_selection),
            tags=request.tags,
        )
        waiting = _tick(defs, instance, dated_settings)
        assert not waiting.run_requests and "retrying in" in (waiting.skip_message or "")
        assert instance.get_runs(filters=dg.RunsFilter(run_ids=[failed.run_id]))
        # Once the backoff has passed, the same work is requested again, under a numbered key.
        monkeypatch.setattr(run_status, "RETRY_BACKOFF_SECONDS", 0)
        (retry,) = _tick(defs, instance, dated_settings).run_requests or []
        assert retry.run_key == f"{request.run_key}#1"


def test_start_block_is_the_start_date_when_the_deployment_block_is_unset(dated_devnet, tmp_path: Path) -> None:
    devnet, blocks = dated_devnet
    write_manifest(tmp_path, devnet.manifest)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    # A live chain's contract with *_DEPLOYED_BLOCK left at 0, and history wanted from day 2 on.
    settings = load_settings(
        data_dir=tmp_path, database_url=url, liquidity_deployed_block=0, indexing_start_date=date(2026, 1, 2)
    )
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        requests = _tick(defs, instance, settings).run_requests or []
        (request,) = requests
        assert f"l1_liquidity@{blocks['2026-01-02T00:00:00']}" in request.run_key
        assert _run(defs, instance, request).success
    deposited = {row[0] for row in _rows(devnet, settings)["Deposited"]}
    assert deposited == {blocks[t] for t in DEPOSIT_TIMES if not t.startswith("2026-01-01")}
    engine = make_engine(url)
    with engine.connect() as connection:
        cursor = coverage.read_cursor(connection, "l1_liquidity", devnet.manifest.l1.chain_id)
        ranges = coverage.covered_ranges(connection, "l1_liquidity", devnet.manifest.l1.chain_id)
    engine.dispose()
    assert cursor is not None and ranges[0].from_block == blocks["2026-01-02T00:00:00"]


# ------------------------------------------------------------------------------------------------
# One writer per stream, across processes (PostgreSQL: concurrent transactions really interleave)

WRITER = """
import json, sys, time
from pathlib import Path
import dagster as dg
from intmax_assets.definitions import build_resources
from intmax_assets.defs.indexing import build_stream_asset
from intmax_core.config import load_settings
from intmax_core.indexing.streams import STREAMS_BY_NAME

options = json.loads(sys.argv[1])
settings = load_settings()
asset = build_stream_asset(STREAMS_BY_NAME["l1_liquidity"], settings)
print("ready", flush=True)
while not Path(options["go"]).exists():  # start together with the other writer
    time.sleep(0.01)
result = dg.materialize([asset], partition_key=options["day"], resources=build_resources(settings))
sys.exit(0 if result.success else 1)
"""


def test_concurrent_partition_runs_leave_one_contiguous_coverage(
    dated_devnet, postgres_url: str, tmp_path: Path
) -> None:
    devnet, _ = dated_devnet
    write_manifest(tmp_path, devnet.manifest)
    migrate.upgrade(postgres_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    # One-block chunks: many small transactions per run, so the two runs' chunks interleave.
    env |= {
        "INTMAX_DATA_DIR": str(tmp_path),
        "INTMAX_DATABASE_URL": postgres_url,
        "INTMAX_L1_LOG_RANGE": "1",
        "INTMAX_L1_MAX_LOG_RANGE": "1",
    }
    go = tmp_path / "go"

    def writer(day: str) -> subprocess.Popen:
        arguments = json.dumps({"day": day, "go": str(go)})
        return subprocess.Popen(
            [sys.executable, "-c", WRITER, arguments], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True
        )

    # Adjacent days at the same time, then the third day.
    first, second = writer("2026-01-01"), writer("2026-01-02")
    for process in (first, second):
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    go.touch()
    assert [first.wait(timeout=120), second.wait(timeout=120)] == [0, 0]
    third = writer("2026-01-03")
    assert third.stdout is not None and third.stdout.readline().strip() == "ready"
    assert third.wait(timeout=120) == 0

    settings = load_settings(data_dir=tmp_path, database_url=postgres_url)
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        ranges = coverage.covered_ranges(connection, "l1_liquidity", l1.eth.chain_id)
        cursor = coverage.read_cursor(connection, "l1_liquidity", l1.eth.chain_id)
    engine.dispose()
    start = stream_source(settings, LIQUIDITY).deployed_block
    head = l1.eth.block_number
    assert [(r.from_block, r.to_block) for r in ranges] == [(start, head)]
    assert cursor is not None and cursor.block_number == head
    # Every event exactly once (table_rows fails on a duplicate row), none missing.
    assert _rows(devnet, settings) == chain_rows(l1, devnet.manifest, LIQUIDITY, head)
