"""Devnet flows through the mock relayers (Dagster jobs): each message is delivered exactly once."""

from __future__ import annotations

import os

import dagster as dg
from sqlalchemy import select
from web3 import Web3

from intmax_assets.definitions import build_definitions, build_resources
from intmax_core.config import Settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import withdrawals
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan, Simulator
from tests.devnet_activity import RELAY_FEE_WEI, RELAY_GAS_LIMIT, contract, submit_withdrawals
from tests.indexing_helpers import index_all


def _settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(update={"database_url": warehouse_url})


def _output_metadata(result: dg.ExecuteInProcessResult, node: str) -> dict:
    for event in result.all_node_events:
        if event.node_name == node and event.event_type_value == "STEP_OUTPUT":
            return event.event_specific_data.metadata
    return {}


def _nonce(w3: Web3, address: str) -> int:
    return w3.eth.get_transaction_count(Web3.to_checksum_address(address))


def test_deposit_reaches_the_rollup_exactly_once(devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str):
    settings = _settings(devnet_settings, warehouse_url)
    manifest = devnet.manifest
    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    liquidity = contract(l1, manifest, "liquidity")
    for amount in (10**15, 2 * 10**15):
        transact(
            l1,
            liquidity.functions.depositNativeToken(os.urandom(32), b"", b""),
            accounts.role("builder").address,
            value=amount,
        )
    last_id = liquidity.functions.getLastDepositId().call()
    transact(
        l1,
        liquidity.functions.relayDeposits(last_id, RELAY_GAS_LIMIT),
        manifest.accounts["deposit_analyzer"],
        value=RELAY_FEE_WEI,
    )
    index_all(settings, settings.warehouse_url)

    defs = build_definitions(settings)
    rollup = contract(l2, manifest, "rollup")
    relayer = accounts.role("mock_messenger").address
    with dg.instance_for_test() as instance:
        sensor = defs.get_sensor_def("mock_l1_to_l2_relay_sensor")
        tick = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, definitions=defs, resources=build_resources(settings))
        )
        assert len(tick.run_requests) == 1
        before = _nonce(l2, relayer)
        metadata = _output_metadata(
            defs.get_job_def("mock_l1_to_l2_relay").execute_in_process(instance=instance), "relay_l1_to_l2"
        )
        assert metadata["relayed"].value == 1
        assert rollup.functions.lastProcessedDepositId().call() == last_id
        assert len(rollup.events.DepositsProcessed().get_logs(from_block=0)) == 1
        # Again: the ledger knows it was delivered; nothing is sent.
        again = _output_metadata(
            defs.get_job_def("mock_l1_to_l2_relay").execute_in_process(instance=instance), "relay_l1_to_l2"
        )
        assert again["relayed"].value == 0
        assert _nonce(l2, relayer) == before + 1
        assert len(rollup.events.DepositsProcessed().get_logs(from_block=0)) == 1
        idle = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, definitions=defs, resources=build_resources(settings))
        )
        assert not idle.run_requests and "no message waiting" in (idle.skip_message or "")


def test_withdrawal_message_reaches_liquidity_exactly_once(
    devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str
) -> None:
    settings = _settings(devnet_settings, warehouse_url)
    manifest = devnet.manifest
    l1 = web3_for(manifest.l1.rpc_url)
    plan = SimulationPlan(seed=4, users=2, deposits=4, withdrawals=3, builders=1, blocks=1)
    Simulator(manifest, settings.warehouse_url, plan).run()
    with make_engine(settings.warehouse_url).connect() as connection:
        proofs = list(connection.execute(select(withdrawals.c.single_withdrawal_proof)).scalars())
    submit_withdrawals(devnet, proofs)
    index_all(settings, settings.warehouse_url)

    defs = build_definitions(settings)
    liquidity = contract(l1, manifest, "liquidity")

    def settled() -> int:
        return len(liquidity.events.DirectWithdrawalSuccessed().get_logs(from_block=0)) + len(
            liquidity.events.WithdrawalClaimable().get_logs(from_block=0)
        )

    assert settled() == 0
    with dg.instance_for_test() as instance:
        metadata = _output_metadata(
            defs.get_job_def("mock_l2_to_l1_relay").execute_in_process(instance=instance), "relay_l2_to_l1"
        )
        assert metadata["relayed"].value == 1
        assert settled() == 3
        again = _output_metadata(
            defs.get_job_def("mock_l2_to_l1_relay").execute_in_process(instance=instance), "relay_l2_to_l1"
        )
        assert again["relayed"].value == 0
        assert settled() == 3
