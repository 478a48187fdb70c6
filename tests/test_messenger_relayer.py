"""The messenger relayer against the Scroll bridge API stand-in: each listed message claimed once on
L1, across re-runs, transient API errors and a SIGKILL right after the broadcast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
from sqlalchemy import select
from web3 import Web3

from intmax_assets.definitions import build_definitions
from intmax_core.config import Settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.schema import withdrawals
from intmax_core.withdrawals.messenger_relayer import PURPOSE
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan, Simulator
from tests.devnet_activity import contract, submit_withdrawals
from tests.job_crash import kill_after_first_broadcast

JOB = "relay_withdrawal_messages"


@pytest.fixture
def settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(update={"database_url": warehouse_url})


@pytest.fixture
def bridge_admin(devnet: RunningDevnet) -> Iterator[str]:
    assert devnet.scroll_bridge is not None
    yield devnet.scroll_bridge.url
    httpx.post(f"{devnet.scroll_bridge.url}/__faults", json={"mode": "errcode", "count": 0})


def _submit(devnet: RunningDevnet, settings: Settings) -> int:
    """The simulator's withdrawal requests, submitted on L2 as the aggregator would: returns how many."""
    Simulator(
        devnet.manifest, settings.warehouse_url, SimulationPlan(seed=11, users=2, deposits=3, withdrawals=2, blocks=1)
    ).run()
    with make_engine(settings.warehouse_url).connect() as connection:
        proofs = list(connection.execute(select(withdrawals.c.single_withdrawal_proof)).scalars())
    submit_withdrawals(devnet, proofs)
    return len(proofs)


def _l1_outcomes(devnet: RunningDevnet) -> tuple[int, int]:
    """(RelayedMessage events on the L1 messenger, Liquidity payouts + claimables)."""
    manifest = devnet.manifest
    l1 = web3_for(manifest.l1.rpc_url)
    relayed = contract(l1, manifest, "l1_scroll_messenger").events.RelayedMessage().get_logs(from_block=0)
    liquidity = contract(l1, manifest, "liquidity")
    paid = liquidity.events.DirectWithdrawalSuccessed().get_logs(from_block=0)
    claimable = liquidity.events.WithdrawalClaimable().get_logs(from_block=0)
    return len(relayed), len(paid) + len(claimable)


def _aggregator_nonce(devnet: RunningDevnet) -> int:
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    return l1.eth.get_transaction_count(Web3.to_checksum_address(devnet.manifest.accounts["withdrawal_aggregator"]))


def test_listed_messages_are_claimed_once(devnet: RunningDevnet, settings: Settings, bridge_admin: str) -> None:
    count = _submit(devnet, settings)
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        # Two transient "i/o timeout" answers are retried within the run.
        httpx.post(f"{bridge_admin}/__faults", json={"mode": "errcode", "count": 2})
        assert defs.get_job_def(JOB).execute_in_process(instance=instance).success
        assert _l1_outcomes(devnet) == (1, count)
        nonce = _aggregator_nonce(devnet)
        # Claimed: the API no longer lists it, and a second run sends nothing.
        assert defs.get_job_def(JOB).execute_in_process(instance=instance).success
    assert _aggregator_nonce(devnet) == nonce and _l1_outcomes(devnet) == (1, count)
    with make_engine(settings.warehouse_url).connect() as connection:
        rows = (
            connection.execute(select(transactions.c.status).where(transactions.c.purpose == PURPOSE)).scalars().all()
        )
    assert rows == ["confirmed"]


def test_an_api_that_keeps_failing_fails_the_run_clearly(
    devnet: RunningDevnet, settings: Settings, bridge_admin: str
) -> None:
    _submit(devnet, settings)
    httpx.post(f"{bridge_admin}/__faults", json={"mode": "errcode", "count": 50})
    with dg.instance_for_test() as instance:
        result = (
            build_definitions(settings).get_job_def(JOB).execute_in_process(instance=instance, raise_on_error=False)
        )
    assert not result.success
    failure = result.failure_data_for_node("relay_withdrawal_messages_op")
    assert (
        failure is not None and "i/o timeout" in failure.error.message and "after 5 attempts" in failure.error.message
    )
    assert _l1_outcomes(devnet)[0] == 0


def test_a_sigkill_after_the_broadcast_claims_once(devnet: RunningDevnet, settings: Settings, tmp_path: Path) -> None:
    count = _submit(devnet, settings)
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    kill_after_first_broadcast(settings, tmp_path, l1, JOB)
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as connection:
        (status,) = connection.execute(select(transactions.c.status).where(transactions.c.purpose == PURPOSE)).scalars()
    assert status == "sent"  # killed before it could record the receipt
    with dg.instance_for_test() as instance:
        assert build_definitions(settings).get_job_def(JOB).execute_in_process(instance=instance).success
    assert _l1_outcomes(devnet) == (1, count)
    with engine.connect() as connection:
        assert connection.execute(
            select(transactions.c.status).where(transactions.c.purpose == PURPOSE)
        ).scalars().all() == ["confirmed"]
    engine.dispose()
