"""The indexing assets in Dagster: daily partitions mapped exactly to blocks, out-of-order backfills,
asset checks, and the sensor that keeps today fresh."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs.indexing import asset_key, build_stream_asset
from intmax_core.config import Settings, load_settings
from intmax_core.devnet_manifest import write_manifest
from intmax_core.indexing.day_ranges import day_block_range
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, start_devnet, web3_for
from tests.chain_oracle import chain_rows, table_rows
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


def test_partition_maps_exactly_to_the_day(dated_devnet) -> None:
    devnet, blocks = dated_devnet
    l1 = web3_for(devnet.manifest.l1.rpc_url)

    def timestamp_of(number: int) -> int:
        return l1.eth.get_block(number)["timestamp"]

    head = l1.eth.block_number
    day2 = day_block_range(timestamp_of, datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC), head)
    assert day2 == (blocks["2026-01-02T00:00:00"], blocks["2026-01-02T12:00:00"])
    day1 = day_block_range(timestamp_of, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), head)
    assert day1 is not None and day1[0] == 0 and day1[1] == blocks["2026-01-01T23:59:59"]
    day3 = day_block_range(timestamp_of, datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC), head)
    assert day3 == (blocks["2026-01-03T00:00:00"], head)
    assert (
        day_block_range(timestamp_of, datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC), head) is None
    )


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
    assert metadata["events_Deposited"].value == 2
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
        "unique_keys": True,
        "deposit_ids_contiguous": True,
    }
    complete = _rows(devnet, dated_settings)
    assert complete == chain_rows(l1, devnet.manifest, LIQUIDITY, l1.eth.block_number)

    # Re-materializing a day replaces its rows with identical ones.
    assert _materialize(dated_settings, "2026-01-01").success
    assert _rows(devnet, dated_settings) == complete


def test_sensor_requests_runs_only_for_new_final_blocks(dated_devnet, dated_settings: Settings) -> None:
    devnet, _ = dated_devnet
    defs = build_definitions(dated_settings)
    sensor = defs.get_sensor_def("l1_indexing_sensor")
    resources = build_resources(dated_settings)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources, definitions=defs)
        result = sensor.evaluate_tick(context)
        requests = result.run_requests or []
        # Nothing is indexed yet: every L1 stream lags, starting on the deployment day.
        assert [r.partition_key for r in requests] == ["2026-01-01", "2026-01-02", "2026-01-03"]
        head = web3_for(devnet.manifest.l1.rpc_url).eth.block_number
        assert requests[0].run_key == f"l1:{head}:2026-01-01"
        assert {k.path[-1] for k in requests[0].asset_selection} == {
            "l1_liquidity_events",
            "l1_scroll_messenger_events",
            "l1_minter_events",
        }
        for request in requests:
            job = defs.resolve_implicit_global_asset_job_def()
            outcome = job.execute_in_process(
                partition_key=request.partition_key,
                asset_selection=request.asset_selection,
                run_config=request.run_config,
                instance=instance,
            )
            assert outcome.success
        # Everything final is indexed: the next tick asks for nothing.
        again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources, definitions=defs))
        assert not again.run_requests
        assert again.skip_message and "no new final L1 blocks" in again.skip_message
