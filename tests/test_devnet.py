"""The devnet as a whole: CLI lifecycle, manifest -> settings, cross-chain flows, the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from web3 import Web3
from web3.logs import DISCARD

from intmax_core.chain.hashing import (
    DepositTree,
    Withdrawal,
    deposit_hash,
    withdrawal_hash,
)
from intmax_core.config import load_settings
from intmax_core.devnet_manifest import DevnetManifest
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import withdrawals
from intmax_devnet import accounts
from intmax_devnet.anvil import free_port, process_group_alive
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan, Simulator
from intmax_devnet.single_withdrawal_proof import decode_proof
from tests.conftest import PROJECT_ROOT
from tests.devnet_activity import RELAY_FEE_WEI, contract, relay_l2_to_l1, submit_withdrawals

SMALL_PLAN = SimulationPlan(seed=11, users=3, deposits=6, withdrawals=4, builders=2, blocks=2)


def intmax(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    env["INTMAX_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "intmax_cli.main", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_committed_artifacts_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "intmax_devnet.compile", "--check"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_cli_up_simulate_down_leaves_no_process(tmp_path: Path) -> None:
    ports = ["--l1-port", str(free_port()), "--l2-port", str(free_port())]
    up = intmax("devnet", "up", *ports, data_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    manifest = DevnetManifest.from_json((tmp_path / "devnet.json").read_text())
    pids = [manifest.l1.pid, manifest.l2.pid]
    try:
        assert all(process_group_alive(pid) for pid in pids)
        again = intmax("devnet", "up", *ports, data_dir=tmp_path)
        assert again.returncode == 1 and "already running" in again.stderr
        status = intmax("devnet", "status", data_dir=tmp_path)
        assert status.returncode == 0 and status.stdout.count("running (pid") == 2
        simulate = intmax(
            "devnet", "simulate", "--seed", "3", "--users", "2", "--deposits", "3",
            "--withdrawals", "2", "--builders", "1", "--blocks", "1",
            data_dir=tmp_path,
        )  # fmt: skip
        assert simulate.returncode == 0, simulate.stderr
        assert "deposits:    3 (ids 1..3)" in simulate.stdout
        assert "withdrawals: 2 requested" in simulate.stdout
    finally:
        down = intmax("devnet", "down", data_dir=tmp_path)
    assert down.returncode == 0 and "stopped 2 chain(s)" in down.stdout
    assert not any(process_group_alive(pid) for pid in pids)
    assert not (tmp_path / "devnet.json").exists()
    assert intmax("devnet", "status", data_dir=tmp_path).returncode == 1


def test_settings_come_from_the_manifest_unless_chains_are_explicit(devnet: RunningDevnet, devnet_settings) -> None:
    manifest = devnet.manifest
    assert devnet_settings.l1_rpc_urls == [manifest.l1.rpc_url]
    assert devnet_settings.l2_chain_id == manifest.l2.chain_id
    assert devnet_settings.liquidity_address == manifest.contracts["liquidity"].address
    assert devnet_settings.rollup_deployed_block == manifest.contracts["rollup"].block_number
    assert devnet_settings.owner_mnemonic is not None
    # An explicit chain setting means "not the devnet": nothing of the manifest is mixed in.
    explicit = load_settings(data_dir=devnet_settings.data_dir, l1_rpc_urls="https://rpc.example")
    assert explicit.l2_rpc_urls == [] and explicit.liquidity_address is None
    # An explicit variable still wins over the manifest's value.
    override = load_settings(data_dir=devnet_settings.data_dir, l1_confirmations=12)
    assert override.l1_confirmations == 12 and override.l1_rpc_urls == [manifest.l1.rpc_url]


def test_deposit_is_relayed_to_the_rollup_through_the_l2_messenger(devnet: RunningDevnet) -> None:
    manifest = devnet.manifest
    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    liquidity = contract(l1, manifest, "liquidity")
    depositor = accounts.role("builder").address  # any funded, unlocked anvil account
    salt = Web3.keccak(text="recipient")
    receipt = transact(l1, liquidity.functions.depositNativeToken(salt, b"", b""), depositor, value=10**18)
    (deposited,) = liquidity.events.Deposited().process_receipt(receipt)
    deposit_id = deposited["args"]["depositId"]
    expected_hash = deposit_hash(depositor, salt, 10**18, 0, True)
    assert liquidity.functions.getDepositDataHash(deposit_id).call() == expected_hash

    relayer = manifest.accounts["deposit_analyzer"]
    receipt = transact(l1, liquidity.functions.relayDeposits(deposit_id, 400_000), relayer, value=RELAY_FEE_WEI)
    (sent,) = (
        contract(l1, manifest, "l1_scroll_messenger").events.SentMessage().process_receipt(receipt, errors=DISCARD)
    )
    args = sent["args"]
    assert args["sender"].lower() == manifest.contracts["liquidity"].address
    assert args["target"].lower() == manifest.contracts["rollup"].address

    # What the mock L1->L2 relayer does: deliver the message unchanged on L2.
    l2_messenger = contract(l2, manifest, "l2_scroll_messenger")
    call = l2_messenger.functions.relayMessage(
        args["sender"], args["target"], args["value"], args["messageNonce"], args["message"]
    )
    receipt = transact(l2, call, accounts.role("mock_messenger").address)
    rollup = contract(l2, manifest, "rollup")
    (processed,) = rollup.events.DepositsProcessed().process_receipt(receipt, errors=DISCARD)
    (leaf,) = rollup.events.DepositLeafInserted().process_receipt(receipt, errors=DISCARD)
    tree = DepositTree()
    tree.insert(expected_hash)
    assert processed["args"]["lastProcessedDepositId"] == deposit_id
    assert leaf["args"]["depositHash"] == expected_hash
    assert processed["args"]["depositTreeRoot"] == tree.root() == rollup.functions.depositTreeRoot().call()


def _deposited_events(devnet: RunningDevnet) -> list[tuple]:
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    liquidity = contract(l1, devnet.manifest, "liquidity")
    logs = liquidity.events.Deposited().get_logs(from_block=0)
    return [
        (e["args"]["sender"], e["args"]["tokenIndex"], e["args"]["amount"], e["args"]["recipientSaltHash"])
        for e in logs
    ]


def test_simulator_is_deterministic_for_a_seed(devnet: RunningDevnet, tmp_path: Path) -> None:
    chains = [web3_for(devnet.manifest.l1.rpc_url), web3_for(devnet.manifest.l2.rpc_url)]
    runs = []
    for seed, name in ((5, "a"), (5, "b"), (6, "c")):
        snapshots = [w3.provider.make_request("evm_snapshot", [])["result"] for w3 in chains]
        plan = SimulationPlan(seed=seed, users=2, deposits=4, withdrawals=3, builders=1, blocks=1)
        report = Simulator(devnet.manifest, f"sqlite:///{tmp_path / name}.db", plan).run()
        with make_engine(f"sqlite:///{tmp_path / name}.db").connect() as connection:
            rows = connection.execute(select(withdrawals.c.contract_withdrawal, withdrawals.c.pubkey)).all()
        runs.append((_deposited_events(devnet), report.deposits_by_token, sorted(map(str, rows))))
        for w3, snapshot in zip(chains, snapshots, strict=True):
            w3.provider.make_request("evm_revert", [snapshot])
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]
    assert len(runs[0][0]) == 4


def test_simulated_withdrawals_are_accepted_on_l2_and_paid_on_l1(devnet: RunningDevnet, warehouse_url: str) -> None:
    """What a correct aggregator will do with the simulator's rows succeeds on the devnet."""
    manifest = devnet.manifest
    report = Simulator(manifest, warehouse_url, SMALL_PLAN).run()
    with make_engine(warehouse_url).connect() as connection:
        rows = connection.execute(select(withdrawals).order_by(withdrawals.c.created_at)).mappings().all()
    assert [row["withdrawal_hash"] for row in rows] == report.withdrawal_hashes
    assert {row["status"] for row in rows} == {"requested"}

    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    rollup = contract(l2, manifest, "rollup")
    for row in rows:
        proven = decode_proof(row["single_withdrawal_proof"])
        cw = row["contract_withdrawal"]
        assert (proven.recipient, proven.token_index, str(proven.amount), proven.nullifier) == (
            cw["recipient"], cw["tokenIndex"], cw["amount"], cw["nullifier"],
        )  # fmt: skip
        hash_ = withdrawal_hash(Withdrawal(proven.recipient, proven.token_index, proven.amount, proven.nullifier))
        assert row["withdrawal_hash"] == "0x" + hash_.hex() and row["recipient"] == proven.recipient
        assert rollup.functions.getBlockHash(proven.block_number).call().hex() == proven.block_hash[2:]

    # What the aggregator and the mock L2->L1 relayer do: submit on L2, deliver unchanged on L1.
    receipt = relay_l2_to_l1(devnet, submit_withdrawals(devnet, [row["single_withdrawal_proof"] for row in rows]))
    l1_messenger = contract(l1, manifest, "l1_scroll_messenger")
    liquidity = contract(l1, manifest, "liquidity")
    settled = {
        "0x" + e["args"]["withdrawalHash"].hex()
        for event in (liquidity.events.DirectWithdrawalSuccessed, liquidity.events.WithdrawalClaimable)
        for e in event().process_receipt(receipt, errors=DISCARD)
    }
    assert settled == set(report.withdrawal_hashes)
    assert not l1_messenger.events.FailedRelayedMessage().process_receipt(receipt, errors=DISCARD)


def test_manifest_round_trips(devnet: RunningDevnet) -> None:
    text = devnet.manifest.to_json()
    assert DevnetManifest.from_json(text) == devnet.manifest
    assert json.loads(text)["contracts"]["liquidity"]["chain"] == "l1"
