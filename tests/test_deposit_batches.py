"""The deposit_batches asset and the sensor that refreshes the deposit assets, on the devnet."""

from __future__ import annotations

from typing import Any

import dagster as dg
from sqlalchemy import select

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs.deposits.batches import BATCHES_REACH_L2
from intmax_core.config import Settings
from intmax_core.deposits.relay_plan import relay_gas_limit
from intmax_core.warehouse.deposits_tables import deposit_batches
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.ledger import transactions
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.devnet_activity import contract, deposit_eth_and_usdc
from tests.indexing_helpers import index_all
from tests.test_deposit_relay import RELAY_JOB

REFRESH = {dg.AssetKey("deposits"), dg.AssetKey("deposit_batches")}


def _refresh(defs: dg.Definitions, instance: dg.DagsterInstance, **batch_config: Any) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=REFRESH)
    config = {"ops": {"deposit_batches": {"config": batch_config}}} if batch_config else None
    return job.execute_in_process(instance=instance, run_config=config)


def _batches(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(deposit_batches).order_by(deposit_batches.c.up_to_deposit_id)).mappings()
        result = [dict(r) for r in rows]
    engine.dispose()
    return result


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == BATCHES_REACH_L2]
    return evaluation


def test_batches_follow_the_relay_and_the_l2_processing(devnet: RunningDevnet, relay_settings: Settings) -> None:
    url = relay_settings.warehouse_url
    manifest = devnet.manifest
    defs = build_definitions(relay_settings)
    first_ids = deposit_eth_and_usdc(devnet)
    index_all(relay_settings, url)
    with dg.instance_for_test() as instance:
        assert defs.get_job_def(RELAY_JOB).execute_in_process(instance=instance).success
        index_all(relay_settings, url)
        assert defs.get_job_def("mock_l1_to_l2_relay").execute_in_process(instance=instance).success
        # A second batch that the L2 never processes (the mock messenger does not deliver it).
        second_ids = deposit_eth_and_usdc(devnet)
        index_all(relay_settings, url)
        assert defs.get_job_def(RELAY_JOB).execute_in_process(instance=instance).success
        index_all(relay_settings, url)

        result = _refresh(defs, instance)
        assert result.success and _check(result).passed  # within the default one-hour deadline
        late = _refresh(defs, instance, l2_deadline_seconds=0)
        evaluation = _check(late)
        assert not evaluation.passed
        assert evaluation.metadata["late_up_to_ids"].value == str([second_ids[-1]])

    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    (processed,) = contract(l2, manifest, "rollup").events.DepositsProcessed().get_logs(from_block=0)
    relays = contract(l1, manifest, "liquidity").events.DepositsRelayed().get_logs(from_block=0)
    engine = make_engine(url)
    with engine.connect() as connection:
        ledger = dict(connection.execute(select(transactions.c.tx_hash, transactions.c.id)).all())
    engine.dispose()
    first, second = _batches(url)
    assert (first["first_deposit_id"], first["up_to_deposit_id"], first["deposit_count"]) == (1, first_ids[-1], 3)
    assert (second["first_deposit_id"], second["up_to_deposit_id"]) == (second_ids[0], second_ids[-1])
    assert first["gas_limit"] == second["gas_limit"] == relay_gas_limit(3)
    assert [b["relay_tx_hash"] for b in (first, second)] == ["0x" + r["transactionHash"].hex() for r in relays]
    assert first["ledger_transaction_id"] == ledger[first["relay_tx_hash"]]
    assert first["processed_tx_hash"] == "0x" + processed["transactionHash"].hex()
    assert first["deposit_tree_root"] == "0x" + processed["args"]["depositTreeRoot"].hex()
    # L2 block time minus L1 block time: the two chains' clocks are independent (it can be -1 s).
    l1_time = l1.eth.get_block(relays[0]["blockNumber"])["timestamp"]
    l2_time = l2.eth.get_block(processed["blockNumber"])["timestamp"]
    assert first["processing_seconds"] == l2_time - l1_time
    assert first["relay_wait_seconds"] is not None and first["relay_wait_seconds"] >= 0
    assert second["processed_tx_hash"] is None and second["processing_seconds"] is None

    # Refreshing again writes nothing.
    with dg.instance_for_test() as instance:
        again = _refresh(defs, instance)
    (materialization,) = [
        e.materialization
        for e in again.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey("deposit_batches")
    ]
    assert materialization.metadata["written"].value == 0
    assert materialization.metadata["batches_awaiting_l2"].value == 1
    assert _batches(url) == [first, second]


def test_the_refresh_sensor_runs_once_per_input_and_retries_failures(
    devnet: RunningDevnet,
    relay_settings: Settings,
) -> None:
    url = relay_settings.warehouse_url
    defs = build_definitions(relay_settings)
    sensor = defs.get_sensor_def("deposits_refresh_sensor")

    def tick(instance: dg.DagsterInstance):  # type: ignore[no-untyped-def]
        context = dg.build_sensor_context(
            instance=instance, definitions=defs, resources=build_resources(relay_settings)
        )
        return sensor.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        idle = tick(instance)
        assert not idle.run_requests and "nothing indexed yet" in (idle.skip_message or "")
        deposit_eth_and_usdc(devnet)
        index_all(relay_settings, url)
        head_l1 = web3_for(devnet.manifest.l1.rpc_url).eth.block_number
        head_l2 = web3_for(devnet.manifest.l2.rpc_url).eth.block_number
        (request,) = tick(instance).run_requests or []
        work = f"l1_liquidity@{head_l1},l2_rollup@{head_l2}"
        assert request.run_key == f"deposits_refresh_sensor:{work}"
        assert set(request.asset_selection or ()) == REFRESH or request.asset_selection is None

        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=REFRESH)
        assert job.execute_in_process(instance=instance, tags=request.tags).success
        done = tick(instance)
        assert not done.run_requests and f"up to date with {work}" in (done.skip_message or "")

        # A failed refresh of the same inputs is retried (after a backoff).
        instance.report_run_failed(
            instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED, tags=request.tags)
        )
        waiting = tick(instance)
        assert not waiting.run_requests and "failed; retrying in" in (waiting.skip_message or "")
