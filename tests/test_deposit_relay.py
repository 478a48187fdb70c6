"""Deposit relaying on the devnet: the sensor's policy, the relay job, batches of 450, crash safety."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select
from web3 import Web3

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs import run_status
from intmax_core.config import Settings
from intmax_core.deposits.relay_plan import RELAY_LIMIT, RelayBatch, plan_batches, relay_gas_limit
from intmax_core.deposits.relayer import PURPOSE
from intmax_core.warehouse import migrate
from intmax_core.warehouse.deposits_tables import deposits
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.ledger import transactions
from intmax_devnet import accounts
from intmax_devnet.deployer import contract_at, deploy_contract, transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.conftest import PROJECT_ROOT
from tests.devnet_activity import contract, deposit_eth_and_usdc
from tests.indexing_helpers import index_all
from tests.job_crash import kill_after_first_broadcast

RELAY_JOB = "relay_deposits"
# BulkDepositor deposits per transaction: ~80k gas each keeps a transaction under anvil's 30M block gas.
BULK_PER_TX = 300
WEI_PER_BULK_DEPOSIT = 10**12


# ------------------------------------------------------------------------------------ the plan


def test_batches_start_after_the_last_relayed_id_and_carry_at_most_450_ids() -> None:
    batches = plan_batches(last_relayed=10, last_final=1_000)
    assert [(b.first_deposit_id, b.up_to_deposit_id) for b in batches] == [(11, 460), (461, 910), (911, 1_000)]
    assert [b.hashes for b in batches] == [450, 450, 90]
    assert [b.gas_limit for b in batches] == [220_000 + 20_000 * n + 100_000 for n in (450, 450, 90)]
    assert plan_batches(last_relayed=1_000, last_final=1_000) == []


def test_a_batch_gas_limit_counts_only_the_hashes_it_carries() -> None:
    (batch,) = plan_batches(last_relayed=0, last_final=5, canceled={2, 5, 9})
    assert batch == RelayBatch(1, 5, 3) and batch.gas_limit == relay_gas_limit(3) == 380_000
    # Every id is relayed exactly once whatever the range: no gap, no overlap between batches.
    batches = plan_batches(last_relayed=3, last_final=3 + 2 * RELAY_LIMIT + 1)
    covered = [i for b in batches for i in range(b.first_deposit_id, b.up_to_deposit_id + 1)]
    assert covered == list(range(4, 3 + 2 * RELAY_LIMIT + 2))


# ------------------------------------------------------------------------------------- helpers


def _bulk_deposit(devnet: RunningDevnet, count: int) -> None:
    """`count` ETH deposits through the BulkDepositor contract, BULK_PER_TX per transaction."""
    manifest = devnet.manifest
    l1 = web3_for(manifest.l1.rpc_url)
    sender = accounts.role("deployer").address
    address, _ = deploy_contract(l1, "BulkDepositor", [], sender)
    bulk = contract_at(l1, "BulkDepositor", address)
    liquidity = Web3.to_checksum_address(manifest.contracts["liquidity"].address)
    made = 0
    while made < count:
        n = min(BULK_PER_TX, count - made)
        transact(l1, bulk.functions.depositMany(liquidity, n, made + 1), sender, value=n * WEI_PER_BULK_DEPOSIT)
        made += n


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, settings: Settings):  # type: ignore[no-untyped-def]
    sensor = defs.get_sensor_def("deposit_relay_sensor")
    return sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs, resources=build_resources(settings))
    )


def _relay_rows(url: str) -> list[dict]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(transactions).where(transactions.c.purpose == PURPOSE)).mappings().all()
    engine.dispose()
    return sorted((dict(r) for r in rows), key=lambda r: int(r["idempotency_key"]))


def _relays_on_chain(devnet: RunningDevnet) -> list[tuple[int, int]]:
    """(upToDepositId, gasLimit) of every DepositsRelayed on L1, in chain order."""
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    events = contract(l1, devnet.manifest, "liquidity").events.DepositsRelayed().get_logs(from_block=0)
    return [(e["args"]["upToDepositId"], e["args"]["gasLimit"]) for e in events]


def _analyzer_nonce(devnet: RunningDevnet) -> int:
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    return l1.eth.get_transaction_count(Web3.to_checksum_address(devnet.manifest.accounts["deposit_analyzer"]))


# ------------------------------------------------------------------------------------ the flow


def test_relay_sensor_and_job_relay_eth_and_erc20_deposits_until_processed(
    devnet: RunningDevnet, relay_settings: Settings
) -> None:
    url = relay_settings.warehouse_url
    ids = deposit_eth_and_usdc(devnet)
    defs = build_definitions(relay_settings)
    with dg.instance_for_test() as instance:
        # Nothing indexed yet: nothing to relay (the sensor reads only the warehouse).
        idle = _tick(defs, instance, relay_settings)
        assert not idle.run_requests and "0 deposits waiting" in (idle.skip_message or "")
        index_all(relay_settings, url)
        (request,) = _tick(defs, instance, relay_settings).run_requests or []
        assert request.run_key == f"relay:1-{ids[-1]}"

        nonce = _analyzer_nonce(devnet)
        result = defs.get_job_def(RELAY_JOB).execute_in_process(instance=instance, tags=request.tags)
        assert result.success
        assert _relays_on_chain(devnet) == [(ids[-1], relay_gas_limit(len(ids)))]
        assert _analyzer_nonce(devnet) == nonce + 1
        (row,) = _relay_rows(url)
        assert (row["idempotency_key"], row["status"], int(row["value"])) == (str(ids[-1]), "confirmed", 10**17)

        # The relay is known from the ledger before the tail indexes it: no new request.
        after = _tick(defs, instance, relay_settings)
        assert not after.run_requests and "0 deposits waiting" in (after.skip_message or "")
        # A second run sends nothing.
        assert defs.get_job_def(RELAY_JOB).execute_in_process(instance=instance).success
        assert _analyzer_nonce(devnet) == nonce + 1 and len(_relays_on_chain(devnet)) == 1

        # The mock messenger delivers the batch; the deposits become processed with their L2 leaf.
        index_all(relay_settings, url)
        assert defs.get_job_def("mock_l1_to_l2_relay").execute_in_process(instance=instance).success
        index_all(relay_settings, url)
        deposits_job = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection={dg.AssetKey("deposits")}
        )
        assert deposits_job.execute_in_process(instance=instance).success
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(deposits).order_by(deposits.c.deposit_id)).mappings().all()
    engine.dispose()
    assert [r["deposit_id"] for r in rows] == ids
    assert all(r["status"] == "processed" and r["relay_tx_hash"] == row["tx_hash"] for r in rows)
    assert [r["leaf_index"] for r in rows] == [0, 1, 2]
    assert all(r["processed_tx_hash"] and r["processed_block_number"] for r in rows)


def test_the_policy_waits_for_enough_deposits_or_the_oldest_age(
    devnet: RunningDevnet, relay_settings: Settings
) -> None:
    url = relay_settings.warehouse_url
    ids = deposit_eth_and_usdc(devnet)
    index_all(relay_settings, url)
    with dg.instance_for_test() as instance:
        # 3 waiting, threshold 4, the oldest far younger than a one-day limit: wait. (The age is in
        # L1 block time, which on the shared session devnet may trail the wall clock by minutes
        # after earlier tests; a day keeps "far younger" true whatever ran before.)
        waiting = relay_settings.model_copy(
            update={"deposit_relay_min_deposits": 4, "deposit_relay_max_wait_seconds": 86_400}
        )
        tick = _tick(build_definitions(waiting), instance, waiting)
        assert not tick.run_requests and "3 deposits waiting; the relay policy says wait" in (tick.skip_message or "")
        # Enough deposits.
        by_count = waiting.model_copy(update={"deposit_relay_min_deposits": 3})
        assert _tick(build_definitions(by_count), instance, by_count).run_requests
        # Or the oldest has waited long enough.
        by_age = waiting.model_copy(update={"deposit_relay_max_wait_seconds": 0})
        defs = build_definitions(by_age)
        (request,) = _tick(defs, instance, by_age).run_requests or []
        assert request.run_key == f"relay:1-{ids[-1]}"

        # Never a second run while one is in flight.
        running = instance.create_run_for_job(
            job_def=defs.get_job_def(RELAY_JOB), status=dg.DagsterRunStatus.STARTED, tags=request.tags
        )
        busy = _tick(defs, instance, by_age)
        assert not busy.run_requests and "already queued or running" in (busy.skip_message or "")
        # It ended without relaying (say the RPC failed): the same work is retried after a backoff, as #1.
        instance.report_run_failed(running)
        backoff = _tick(defs, instance, by_age)
        assert not backoff.run_requests and "retrying in" in (backoff.skip_message or "")
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setattr(run_status, "RETRY_BACKOFF_SECONDS", 0)
        try:
            (retry,) = _tick(defs, instance, by_age).run_requests or []
        finally:
            monkeypatch.undo()
        assert retry.run_key == f"{request.run_key}#1"


def test_a_parked_relay_stops_the_sensor_and_the_job(devnet: RunningDevnet, relay_settings: Settings) -> None:
    url = relay_settings.warehouse_url
    deposit_eth_and_usdc(devnet)
    index_all(relay_settings, url)
    engine = make_engine(url)
    with engine.begin() as connection:  # what the sender leaves after a revert that will not go away
        connection.execute(
            transactions.insert().values(
                purpose=PURPOSE,
                idempotency_key="2",
                chain_id=devnet.manifest.l1.chain_id,
                signer=devnet.manifest.accounts["deposit_analyzer"].lower(),
                to_address=devnet.manifest.contracts["liquidity"].address,
                value=10**17,
                calldata_hash="0x" + "11" * 32,
                calldata=b"\x76\x91\x8c\x0d",
                status="parked",
                error_name="RelayLimitExceeded",
            )
        )
    engine.dispose()
    defs = build_definitions(relay_settings)
    with dg.instance_for_test() as instance:
        tick = _tick(defs, instance, relay_settings)
        assert not tick.run_requests and "deposit relay 2 is parked" in (tick.skip_message or "")
        nonce = _analyzer_nonce(devnet)
        result = defs.get_job_def(RELAY_JOB).execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = result.failure_data_for_node("relay_deposits_op")
        assert failure is not None and "RelayLimitExceeded" in failure.error.message
        assert "intmax tx requeue deposit_relay 2" in failure.error.message
    assert _analyzer_nonce(devnet) == nonce and _relays_on_chain(devnet) == []


def test_more_than_450_deposits_go_in_several_batches_exactly_once_across_a_sigkill(
    devnet: RunningDevnet, devnet_settings: Settings, postgres_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(postgres_url)
    settings = devnet_settings.model_copy(update={"database_url": postgres_url, "deposit_relay_min_deposits": 1})
    _bulk_deposit(devnet, 1_000)
    index_all(settings, postgres_url)
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    nonce = _analyzer_nonce(devnet)

    # The first run broadcasts the first batch and is SIGKILLed before it sees the receipt.
    kill_after_first_broadcast(settings, tmp_path, l1, RELAY_JOB, env={"INTMAX_DEPOSIT_RELAY_MIN_DEPOSITS": "1"})
    ((key, status),) = [(r["idempotency_key"], r["status"]) for r in _relay_rows(postgres_url)]
    assert (key, status) == ("450", "sent")
    assert _relays_on_chain(devnet) == [(450, relay_gas_limit(450))]

    # The next run reconciles the first batch (nothing resent) and relays the rest.
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        assert defs.get_job_def(RELAY_JOB).execute_in_process(instance=instance).success
        assert defs.get_job_def(RELAY_JOB).execute_in_process(instance=instance).success  # and again: nothing
    assert _relays_on_chain(devnet) == [
        (450, relay_gas_limit(450)),
        (900, relay_gas_limit(450)),
        (1_000, relay_gas_limit(100)),
    ]
    assert _analyzer_nonce(devnet) == nonce + 3
    assert [(r["idempotency_key"], r["status"]) for r in _relay_rows(postgres_url)] == [
        ("450", "confirmed"),
        ("900", "confirmed"),
        ("1000", "confirmed"),
    ]
    liquidity = contract(l1, devnet.manifest, "liquidity")
    assert liquidity.functions.getLastRelayedDepositId().call() == 1_000


# ------------------------------------------------------------------------------------ replay


def _intmax(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTMAX_DATA_DIR": str(settings.data_dir), "INTMAX_DATABASE_URL": settings.warehouse_url}
    return subprocess.run(
        [sys.executable, "-m", "intmax_cli.main", *args], cwd=PROJECT_ROOT, env=env, text=True, capture_output=True
    )


def test_replay_resends_a_relay_message_with_its_gas_limit_once(
    devnet: RunningDevnet, relay_settings: Settings
) -> None:
    url = relay_settings.warehouse_url
    manifest = devnet.manifest
    ids = deposit_eth_and_usdc(devnet)
    index_all(relay_settings, url)
    with dg.instance_for_test() as instance:
        assert build_definitions(relay_settings).get_job_def(RELAY_JOB).execute_in_process(instance=instance).success
    (relay,) = _relay_rows(url)
    l1 = web3_for(manifest.l1.rpc_url)
    messenger = contract(l1, manifest, "l1_scroll_messenger")
    (original,) = messenger.events.SentMessage().get_logs(from_block=0)

    replayed = _intmax(relay_settings, "deposits", "replay", relay["tx_hash"])
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    nonce = original["args"]["messageNonce"]
    assert f"message {nonce}: {len(ids)} deposit hashes" in replayed.stdout
    assert f"deposit_replay/{nonce}#1: confirmed" in replayed.stdout
    sent = messenger.events.SentMessage().get_logs(from_block=0)
    assert len(sent) == 2
    again = sent[1]["args"]
    assert (again["sender"], again["target"], again["message"]) == (
        original["args"]["sender"],
        original["args"]["target"],
        original["args"]["message"],
    )
    assert again["gasLimit"] == relay_gas_limit(len(ids))

    # Repeating the command sends nothing; a deliberate second replay says so.
    analyzer = _analyzer_nonce(devnet)
    repeated = _intmax(relay_settings, "deposits", "replay", relay["tx_hash"])
    assert repeated.returncode == 0 and f"deposit_replay/{nonce}#1: confirmed" in repeated.stdout
    assert _analyzer_nonce(devnet) == analyzer and len(messenger.events.SentMessage().get_logs(from_block=0)) == 2

    # The devnet's mock messenger gives the replay a new nonce; the mock relayer delivers the
    # message once all the same, as Scroll executes a message once however often it is replayed.
    index_all(relay_settings, url)
    with dg.instance_for_test() as instance:
        relay_run = (
            build_definitions(relay_settings).get_job_def("mock_l1_to_l2_relay").execute_in_process(instance=instance)
        )
        assert relay_run.success
    rollup = contract(web3_for(manifest.l2.rpc_url), manifest, "rollup")
    assert len(rollup.events.DepositsProcessed().get_logs(from_block=0)) == 1
    assert len(rollup.events.DepositLeafInserted().get_logs(from_block=0)) == len(ids)
    engine = make_engine(url)
    with engine.connect() as connection:
        delivered = dict(
            connection.execute(
                select(transactions.c.idempotency_key, transactions.c.status).where(
                    transactions.c.purpose == "mock_relay_l1_to_l2"
                )
            ).all()
        )
    engine.dispose()
    chain_id = manifest.l1.chain_id
    assert delivered == {f"{chain_id}:{nonce}": "confirmed", f"{chain_id}:{again['messageNonce']}": "settled"}

    # A transaction that is not a deposit relay, and a malformed hash: clear errors, nothing sent.
    deposit_tx = (
        "0x" + contract(l1, manifest, "liquidity").events.Deposited().get_logs(from_block=0)[0]["transactionHash"].hex()
    )
    wrong = _intmax(relay_settings, "deposits", "replay", deposit_tx)
    assert wrong.returncode == 1 and "has no SentMessage from Liquidity" in wrong.stderr
    malformed = _intmax(relay_settings, "deposits", "replay", "0x1234")
    assert malformed.returncode == 2 and "32-byte transaction hash" in malformed.stderr
    assert _analyzer_nonce(devnet) == analyzer
