"""Devnet flows through the mock relayers (Dagster jobs): each message is delivered exactly once."""

from __future__ import annotations

import logging
import os
from datetime import datetime

import dagster as dg
from eth_abi import encode
from sqlalchemy import insert, select
from web3 import Web3

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs.transactions import transaction_ledger
from intmax_core.config import Settings
from intmax_core.relaying.mock_relayers import L1_TO_L2, L2_TO_L1, PROCESS_DEPOSITS, PROCESS_WITHDRAWALS
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.ledger_repository import LedgerRepository
from intmax_core.warehouse.schema import withdrawals
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan, Simulator
from tests.devnet_activity import RELAY_FEE_WEI, RELAY_GAS_LIMIT, contract, submit_withdrawals
from tests.indexing_helpers import index_all


def _settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(update={"database_url": warehouse_url, "l2_to_l1_relayer": "mock"})


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


def _fake_sent_message(
    connection, chain_id: int, messenger: str, nonce: int, sender: str, target: str, message: bytes, block: int
) -> None:
    """An indexed SentMessage row (the relayers read only the warehouse)."""
    connection.execute(
        insert(EVENT_TABLES["SentMessage"]).values(
            chain_id=chain_id,
            block_number=block,
            log_index=nonce,
            block_hash="0x" + "bb" * 32,
            block_time=datetime(2026, 1, 1),
            tx_hash="0x" + f"{nonce:064x}",
            address=messenger.lower(),
            sender=sender.lower(),
            target=target.lower(),
            value=0,
            message_nonce=nonce,
            gas_limit=1_000_000,
            message=message,
        )
    )


def _ledger(settings: Settings) -> dict[str, dict]:
    with make_engine(settings.warehouse_url).connect() as connection:
        rows = connection.execute(select(transactions)).mappings()
        return {f"{row['purpose']}/{row['idempotency_key']}": dict(row) for row in rows}


def _ledger_check(settings: Settings) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [transaction_ledger], resources={"warehouse": build_resources(settings)["warehouse"]}, raise_on_error=False
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_parked_message_does_not_block_the_next_one(
    devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str, caplog
) -> None:
    """Bugs: a message whose relay reverted was retried every run and held back every later
    message; an L2->L1 message whose target call failed (FailedRelayedMessage) was recorded as
    confirmed and never retried."""
    settings = _settings(devnet_settings, warehouse_url)
    manifest = devnet.manifest
    l1_chain, l2_chain = manifest.l1.chain_id, manifest.l2.chain_id
    liquidity, rollup = settings.liquidity_address, settings.rollup_address
    l1_messenger, l2_messenger = settings.l1_scroll_messenger_address, settings.l2_scroll_messenger_address
    stranger = "0x" + "5e" * 20
    with make_engine(settings.warehouse_url).begin() as connection:
        # L1 -> L2, nonce 0: its target has no processDeposits, so the L2 messenger reverts "Failed
        # to execute message" at estimation. Nonce 1: a real (empty) deposit batch for the Rollup.
        for nonce, target in ((0, settings.withdrawal_address), (1, rollup)):
            message = PROCESS_DEPOSITS + encode(["uint256", "bytes32[]"], [0, []])
            _fake_sent_message(connection, l1_chain, l1_messenger, nonce, liquidity, target, message, 10 + nonce)
            connection.execute(
                insert(EVENT_TABLES["DepositsRelayed"]).values(
                    chain_id=l1_chain,
                    block_number=10 + nonce,
                    log_index=99,
                    block_hash="0x" + "bb" * 32,
                    block_time=datetime(2026, 1, 1),
                    tx_hash="0x" + "dd" * 32,
                    address=liquidity.lower(),
                    up_to_deposit_id=0,
                    gas_limit=1_000_000,
                    message=message,
                )
            )
        # L2 -> L1, nonce 0: from an L2 address without Liquidity's WITHDRAWAL role, so the L1
        # messenger's call fails and it emits FailedRelayedMessage. Nonce 1: an empty batch from
        # the L2 Withdrawal contract.
        empty_batch = PROCESS_WITHDRAWALS + encode(["(address,uint32,uint256,bytes32)[]", "bytes32[]"], [[], []])
        for nonce, sender in ((0, stranger), (1, settings.withdrawal_address)):
            _fake_sent_message(connection, l2_chain, l2_messenger, nonce, sender, liquidity, empty_batch, 20 + nonce)

    defs = build_definitions(settings)
    resources = build_resources(settings)
    with dg.instance_for_test() as instance, caplog.at_level(logging.ERROR):
        down = _output_metadata(
            defs.get_job_def("mock_l1_to_l2_relay").execute_in_process(instance=instance), "relay_l1_to_l2"
        )
        up = _output_metadata(
            defs.get_job_def("mock_l2_to_l1_relay").execute_in_process(instance=instance), "relay_l2_to_l1"
        )
        assert (down["relayed_nonces"].value, up["relayed_nonces"].value) == ("[1]", "[1]")
        assert up["parked"].value == "[(0, 'FailedRelayedMessage')]"
        ledger = _ledger(settings)
        stuck_down, stuck_up = ledger[f"{L1_TO_L2}/{l1_chain}:0"], ledger[f"{L2_TO_L1}/{l2_chain}:0"]
        assert stuck_down["status"] == "parked" and stuck_down["error_args"] == ["Failed to execute message"]
        assert stuck_down["attempts"] == 0  # reverted at estimation: never broadcast
        assert (stuck_up["status"], stuck_up["error_name"]) == ("parked", "FailedRelayedMessage")
        assert (
            ledger[f"{L1_TO_L2}/{l1_chain}:1"]["status"] == ledger[f"{L2_TO_L1}/{l2_chain}:1"]["status"] == "confirmed"
        )
        # The alert: an ERROR line naming each, and the ledger's asset check fails.
        assert f"transaction parked: {L2_TO_L1}/{l2_chain}:0" in caplog.text
        assert not _ledger_check(settings).passed

        # Parked messages are not "waiting": the sensors do not start a run for them every tick.
        for job, chain in (("mock_l1_to_l2_relay", "l1"), ("mock_l2_to_l1_relay", "l2")):
            sensor = defs.get_sensor_def(f"{job}_sensor")
            tick = sensor.evaluate_tick(
                dg.build_sensor_context(instance=instance, definitions=defs, resources=resources)
            )
            assert not tick.run_requests, chain

        # An operator re-queues one: the next run sends it again (still failing here, so parked again).
        LedgerRepository(make_engine(settings.warehouse_url)).requeue(L2_TO_L1, f"{l2_chain}:0")
        sensor = defs.get_sensor_def("mock_l2_to_l1_relay_sensor")
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, resources=resources))
        assert len(tick.run_requests) == 1
        again = _output_metadata(
            defs.get_job_def("mock_l2_to_l1_relay").execute_in_process(instance=instance), "relay_l2_to_l1"
        )
        assert again["parked"].value == "[(0, 'FailedRelayedMessage')]"
        assert _ledger(settings)[f"{L2_TO_L1}/{l2_chain}:0"]["attempts"] == 2  # a new transaction
