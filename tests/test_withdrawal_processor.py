"""The withdrawal aggregator end to end on the devnet: requests -> groups -> stand-in proofs ->
submitWithdrawalProof -> messenger relayer -> Liquidity on L1 -> watcher; prover faults, a
reverting group, and a SIGKILL right after the submission's broadcast."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from web3 import Web3
from web3.logs import DISCARD

from intmax_api.app import create_app
from intmax_assets.definitions import build_definitions
from intmax_core.chain.hashing import ChainedWithdrawal, Withdrawal, hex32, withdrawal_hash
from intmax_core.config import Settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.aggregator_tables import withdrawal_groups
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.schema import withdrawals
from intmax_core.withdrawals.processor import Member, mismatched_member
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan, Simulator
from intmax_devnet.single_withdrawal_proof import decode_proof, encode_proof
from tests.devnet_activity import contract
from tests.indexing_helpers import index_all
from tests.job_crash import kill_after_first_broadcast

PROCESS_JOB = "process_withdrawal_group"
PLAN = SimulationPlan(seed=21, users=3, deposits=6, withdrawals=4, blocks=1)


@pytest.fixture
def settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(
        update={
            "database_url": warehouse_url,
            "withdrawal_min_batch_size": 1,
            "withdrawal_proof_poll_interval_seconds": 0.1,
            "withdrawal_proof_stage_timeout_seconds": 4,
        }
    )


@pytest.fixture
def prover(devnet: RunningDevnet) -> Iterator[str]:
    assert devnet.manifest.prover_gateway is not None
    url = devnet.manifest.prover_gateway.url
    yield url
    httpx.post(f"{url}/__reset")


def _collect(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={dg.AssetKey("withdrawal_groups")})
    assert job.execute_in_process(instance=instance).success
    return _groups(defs, "collected")


def _groups(defs: dg.Definitions, status: str | None = None) -> list[str]:
    engine = make_engine(defs.resources["warehouse"].url)  # type: ignore[union-attr]
    with engine.connect() as connection:
        query = select(withdrawal_groups.c.group_id).order_by(withdrawal_groups.c.created_at)
        if status:
            query = query.where(withdrawal_groups.c.status == status)
        ids = list(connection.execute(query).scalars())
    engine.dispose()
    return ids


def _process(defs: dg.Definitions, instance: dg.DagsterInstance, group_id: str) -> dg.ExecuteInProcessResult:
    config = {"ops": {"prove_and_submit_group": {"config": {"group_id": group_id}}}}
    return defs.get_job_def(PROCESS_JOB).execute_in_process(instance=instance, run_config=config, raise_on_error=False)


def _group(url: str, group_id: str) -> dict[str, Any]:
    engine = make_engine(url)
    with engine.connect() as connection:
        row = dict(
            connection.execute(select(withdrawal_groups).where(withdrawal_groups.c.group_id == group_id))
            .mappings()
            .one()
        )
    engine.dispose()
    return row


def _statuses(url: str) -> dict[str, str]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(withdrawals.c.withdrawal_hash, withdrawals.c.status)).all()
    engine.dispose()
    return {h: str(getattr(s, "value", s)) for h, s in rows}


def _submissions(devnet: RunningDevnet) -> int:
    """submitWithdrawalProof transactions the aggregator sent on L2 (its nonce)."""
    l2 = web3_for(devnet.manifest.l2.rpc_url)
    return l2.eth.get_transaction_count(Web3.to_checksum_address(devnet.manifest.accounts["withdrawal_aggregator"]))


def _materialize_watcher(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={dg.AssetKey("withdrawals")})
    assert job.execute_in_process(instance=instance).success


def test_requests_go_all_the_way_to_l1_and_the_api_shows_every_step(
    devnet: RunningDevnet, settings: Settings, prover: str, redis_url: str
) -> None:
    url = settings.warehouse_url
    report = Simulator(devnet.manifest, url, PLAN).run()
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        (group_id,) = _collect(defs, instance)
        nonce = _submissions(devnet)
        result = _process(defs, instance, group_id)
        assert result.success
        group = _group(url, group_id)
        assert group["status"] == "submitted" and group["l2_tx_hash"] and group["attempt"] == 1
        assert set(_statuses(url).values()) == {"relayed"}
        assert _submissions(devnet) == nonce + 1
        # Running the group again sends nothing.
        assert _process(defs, instance, group_id).success and _submissions(devnet) == nonce + 1

        # The L2 message reaches L1 through the bridge API stand-in; the watcher follows the events.
        index_all(settings, url)
        assert defs.get_job_def("relay_withdrawal_messages").execute_in_process(instance=instance).success
        index_all(settings, url)
        _materialize_watcher(defs, instance)
        statuses = _statuses(url)
        assert set(statuses.values()) <= {"success", "need_claim"}
        claimable = [h for h, s in statuses.items() if s == "need_claim"]
        assert claimable and len(claimable) < len(statuses), "the plan must have direct and claimable withdrawals"

        # Users claim the claimable ones on L1; the watcher makes them success.
        l1 = web3_for(devnet.manifest.l1.rpc_url)
        liquidity = contract(l1, devnet.manifest, "liquidity")
        engine = make_engine(url)
        with engine.connect() as connection:
            proofs = dict(
                connection.execute(select(withdrawals.c.withdrawal_hash, withdrawals.c.contract_withdrawal)).all()
            )
        engine.dispose()
        for h in claimable:
            w = proofs[h]
            item = (
                Web3.to_checksum_address(w["recipient"]),
                w["tokenIndex"],
                int(w["amount"]),
                bytes.fromhex(w["nullifier"][2:]),
            )
            transact(l1, liquidity.functions.claimWithdrawals([item]), accounts.role("builder").address)
        index_all(settings, url)
        _materialize_watcher(defs, instance)
    assert set(_statuses(url).values()) == {"success"} and len(report.withdrawal_hashes) == PLAN.withdrawals

    client = TestClient(create_app(settings.model_copy(update={"redis_url": redis_url})), raise_server_exceptions=False)
    body = client.get(f"/v1/withdrawals/{report.withdrawal_hashes[0]}").json()
    assert body["status"] == "success" and body["group"]["groupId"] == group_id
    assert body["l2Submission"]["txHash"] == group["l2_tx_hash"]
    assert body["l1Events"] and body["l1TxHash"] == body["l1Events"][-1]["txHash"]


@pytest.mark.parametrize("fault", ["error_message", "http_500", "never_finish"])
def test_a_prover_fault_releases_the_group_and_a_later_group_succeeds(
    devnet: RunningDevnet, settings: Settings, prover: str, fault: str
) -> None:
    url = settings.warehouse_url
    Simulator(devnet.manifest, url, PLAN).run()
    defs = build_definitions(settings)
    httpx.post(f"{prover}/__behaviour", json={"stage": "chain", "fail": fault, "count": 100}).raise_for_status()
    with dg.instance_for_test() as instance:
        (first,) = _collect(defs, instance)
        assert _process(defs, instance, first).success
        released = _group(url, first)
        assert released["status"] == "released" and released["error"]
        if fault == "error_message":
            # Stopped at the first answer carrying the error, not after polling out the stage's budget
            # (at 0.1 s a poll, the 4 s budget would poll each job about 40 times). Counted, not timed.
            polls = [i for i in _prover_ids(prover, "GET") if i.startswith(first)]
            assert 0 < len(polls) <= PLAN.withdrawals, len(polls)
        assert set(_statuses(url).values()) == {"requested"}
        httpx.post(f"{prover}/__reset").raise_for_status()
        (second,) = _collect(defs, instance)
        assert second != first and _process(defs, instance, second).success
    assert _group(url, second)["status"] == "submitted" and set(_statuses(url).values()) == {"relayed"}
    ids = _prover_ids(prover, "POST")
    assert all(i.startswith(second) for i in ids) and len(ids) == len(set(ids)) == PLAN.withdrawals


def _prover_ids(prover: str, method: str) -> list[str]:
    """The request ids of the prover stand-in's chain-stage requests with this method, in order."""
    logged = httpx.get(f"{prover}/__requests", params={"stage": "chain", "method": method}).json()["requests"]
    return [entry["id"] for entry in logged if entry["id"]]


def test_a_reverting_group_fails_with_the_decoded_error_and_is_not_retried(
    devnet: RunningDevnet, settings: Settings, prover: str
) -> None:
    url = settings.warehouse_url
    Simulator(devnet.manifest, url, SimulationPlan(seed=22, users=2, deposits=3, withdrawals=1, blocks=1)).run()
    engine = make_engine(url)
    with engine.begin() as connection:
        (proof,) = connection.execute(select(withdrawals.c.single_withdrawal_proof)).scalars()
        good = decode_proof(bytes(proof))
        bogus = ChainedWithdrawal(
            good.recipient, good.token_index, 1, "0x" + "77" * 32, "0x" + "66" * 32, good.block_number
        )
        h = hex32(withdrawal_hash(Withdrawal(bogus.recipient, bogus.token_index, bogus.amount, bogus.nullifier)))
        connection.execute(
            insert(withdrawals).values(
                withdrawal_hash=h, status="requested", pubkey="0x" + "01" * 32, recipient=str(bogus.recipient).lower(),
                contract_withdrawal={"recipient": str(bogus.recipient).lower(), "tokenIndex": bogus.token_index,
                                     "amount": "1", "nullifier": bogus.nullifier},
                single_withdrawal_proof=encode_proof(bogus), created_at=datetime.now(UTC),
            )
        )  # fmt: skip
    engine.dispose()
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        (group_id,) = _collect(defs, instance)
        assert _process(defs, instance, group_id).success
        group = _group(url, group_id)
        assert group["status"] == "failed" and group["error_name"] == "BlockHashNotExists"
        assert set(_statuses(url).values()) == {"failed"}
        # Ended: the sensor requests nothing for it.
        tick = defs.get_sensor_def("withdrawal_group_sensor").evaluate_tick(
            dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
        )
        assert not tick.run_requests


def test_a_sigkill_after_the_submission_broadcast_submits_once(
    devnet: RunningDevnet, settings: Settings, prover: str, tmp_path: Path
) -> None:
    url = settings.warehouse_url
    Simulator(devnet.manifest, url, PLAN).run()
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        (group_id,) = _collect(defs, instance)
    l2 = web3_for(devnet.manifest.l2.rpc_url)
    nonce = _submissions(devnet)
    config = {"ops": {"prove_and_submit_group": {"config": {"group_id": group_id}}}}
    kill_after_first_broadcast(settings, tmp_path, l2, PROCESS_JOB, run_config=config)
    engine = make_engine(url)
    assert _group(url, group_id)["status"] == "submitting" and set(_statuses(url).values()) == {"requested"}
    with dg.instance_for_test() as instance:
        assert _process(defs, instance, group_id).success
    group = _group(url, group_id)
    assert group["status"] == "submitted" and group["attempt"] == 1
    assert _submissions(devnet) == nonce + 1  # exactly one submitWithdrawalProof
    with engine.connect() as connection:
        (tx_hash,) = connection.execute(
            select(transactions.c.tx_hash).where(transactions.c.purpose == "withdrawal_submission")
        ).scalars()
    engine.dispose()
    assert group["l2_tx_hash"] == tx_hash and set(_statuses(url).values()) == {"relayed"}
    receipt = l2.eth.get_transaction_receipt(tx_hash)
    queued = (
        contract(l2, devnet.manifest, "withdrawal")
        .events.DirectWithdrawalQueued()
        .process_receipt(receipt, errors=DISCARD)
    )
    queued += (
        contract(l2, devnet.manifest, "withdrawal")
        .events.ClaimableWithdrawalQueued()
        .process_receipt(receipt, errors=DISCARD)
    )
    assert len(queued) == PLAN.withdrawals


def test_the_group_sensor_requests_one_run_per_group(devnet: RunningDevnet, settings: Settings) -> None:
    Simulator(devnet.manifest, settings.warehouse_url, PLAN).run()
    defs = build_definitions(settings.model_copy(update={"withdrawal_group_size": 2}))
    sensor = defs.get_sensor_def("withdrawal_group_sensor")
    with dg.instance_for_test() as instance:
        first, second = _collect(defs, instance)

        def tick():  # type: ignore[no-untyped-def]
            return sensor.evaluate_tick(
                dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
            )

        requests = tick().run_requests or []
        assert sorted(r.run_key for r in requests) == sorted([f"group:{first}@0", f"group:{second}@0"])
        busy = requests[0].tags["intmax/withdrawal_group"]
        other = second if busy == first else first
        # A run for one group is in flight: only the other is requested.
        instance.create_run_for_job(
            job_def=defs.get_job_def(PROCESS_JOB),
            status=dg.DagsterRunStatus.STARTED,
            tags=requests[0].tags,
            run_config={"ops": {"prove_and_submit_group": {"config": {"group_id": busy}}}},
        )
        assert [r.run_key for r in tick().run_requests or []] == [f"group:{other}@0"]


def test_a_chain_proof_of_another_withdrawal_is_caught_before_sending() -> None:
    """Bug it catches: submitting what the prover returned while marking the member rows relayed."""
    w = ChainedWithdrawal("0x" + "02" * 20, 0, 5, "0x" + "03" * 32, "0x" + "04" * 32, 1)
    own = Member(0, hex32(withdrawal_hash(Withdrawal(w.recipient, w.token_index, w.amount, w.nullifier))), b"p")
    other = Member(1, "0x" + "ee" * 32, b"p")
    assert mismatched_member([own], [w]) is None
    assert mismatched_member([own, other], [w, w]) == 1
