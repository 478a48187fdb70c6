"""The `deposits` table and asset on the devnet: rows equal what the chain did, on both backends."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import delete, select

from intmax_assets.defs.deposits import deposits as deposits_asset
from intmax_assets.defs.deposits.assets import PROCESSED_ARE_RELAYED
from intmax_assets.resources import WarehouseResource
from intmax_core.chain.hashing import deposit_hash, hex32
from intmax_core.config import Settings
from intmax_core.indexing import coverage
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.deposits_tables import deposits
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan
from tests.devnet_activity import RELAY_FEE_WEI, RELAY_GAS_LIMIT, contract, full_flow
from tests.indexing_helpers import index_all

PLAN = SimulationPlan(seed=7, users=2, deposits=5, withdrawals=2, builders=1, blocks=1)


@pytest.fixture
def indexed_settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(update={"database_url": warehouse_url})


def _materialize(url: str, **config: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [deposits_asset],
        resources={"warehouse": WarehouseResource(url=url)},
        run_config={"ops": {"deposits": {"config": config}}} if config else None,
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _check_passed(result: dg.ExecuteInProcessResult) -> bool:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PROCESSED_ARE_RELAYED]
    return evaluation.passed


def _rows(url: str) -> dict[int, dict[str, Any]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = {r["deposit_id"]: dict(r) for r in connection.execute(select(deposits)).mappings()}
    engine.dispose()
    return rows


def _deposit(devnet: RunningDevnet, amount: int) -> int:
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    liquidity = contract(l1, devnet.manifest, "liquidity")
    receipt = transact(
        l1, liquidity.functions.depositNativeToken(os.urandom(32), b"", b""), accounts.role("builder").address,
        value=amount,
    )  # fmt: skip
    return liquidity.events.Deposited().process_receipt(receipt)[0]["args"]["depositId"]


def _relay_without_delivery(devnet: RunningDevnet, up_to: int) -> int:
    """relayDeposits on L1, but the L2 never processes it (the mock relayer does not run): returns its block."""
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    liquidity = contract(l1, devnet.manifest, "liquidity")
    call = liquidity.functions.relayDeposits(up_to, RELAY_GAS_LIMIT)
    receipt = transact(l1, call, devnet.manifest.accounts["deposit_analyzer"], value=RELAY_FEE_WEI)
    return receipt["blockNumber"]


def _roll_back_l1(devnet: RunningDevnet, settings: Settings, url: str, above: int) -> None:
    """What the indexer's reorg repair does when `above` is the newest common block: delete the
    l1_liquidity rows above it, truncate the coverage there and move the cursor back."""
    stream = STREAMS_BY_NAME["l1_liquidity"]
    w3 = web3_for(devnet.manifest.l1.rpc_url)
    chain_id = w3.eth.chain_id
    engine = make_engine(url)
    with engine.begin() as connection:
        for event in stream.events:
            table = EVENT_TABLES[event.name]
            connection.execute(delete(table).where(table.c.chain_id == chain_id, table.c.block_number > above))
        coverage.truncate_above(connection, stream.name, chain_id, above, "0x" + w3.eth.get_block(above)["hash"].hex())
        coverage.refresh_cursor(connection, stream.name, chain_id, stream_source(settings, stream).start_block)
    engine.dispose()


def _chain_expectation(devnet: RunningDevnet) -> dict[int, dict[str, Any]]:
    """Every deposit's fields as the chain has them (Deposited logs on L1, leaves on L2)."""
    manifest = devnet.manifest
    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    liquidity, rollup = contract(l1, manifest, "liquidity"), contract(l2, manifest, "rollup")
    leaves = {
        "0x" + e["args"]["depositHash"].hex(): e for e in rollup.events.DepositLeafInserted().get_logs(from_block=0)
    }
    relays = sorted(liquidity.events.DepositsRelayed().get_logs(from_block=0), key=lambda e: e["args"]["upToDepositId"])
    canceled = {e["args"]["depositId"] for e in liquidity.events.DepositCanceled().get_logs(from_block=0)}

    def moment(w3, block: int) -> datetime:  # type: ignore[no-untyped-def]
        return datetime.fromtimestamp(w3.eth.get_block(block)["timestamp"], UTC)

    expected = {}
    for e in liquidity.events.Deposited().get_logs(from_block=0):
        a = e["args"]
        digest = hex32(deposit_hash(a["sender"], a["recipientSaltHash"], a["amount"], a["tokenIndex"], a["isEligible"]))
        relay = next((r for r in relays if r["args"]["upToDepositId"] >= a["depositId"]), None)
        leaf = leaves.get(digest)
        if a["depositId"] in canceled:
            status, relay, leaf = "canceled", None, None
        else:
            status = "processed" if leaf else "relayed" if relay else "pending"
        expected[a["depositId"]] = {
            "depositor": a["sender"].lower(),
            "recipient_salt_hash": "0x" + a["recipientSaltHash"].hex(),
            "token_index": a["tokenIndex"],
            "amount": a["amount"],
            "is_eligible": a["isEligible"],
            "status": status,
            "deposit_hash": digest,
            "deposit_tx_hash": "0x" + e["transactionHash"].hex(),
            "deposit_block_number": e["blockNumber"],
            "deposited_at": moment(l1, e["blockNumber"]),
            "relay_up_to_deposit_id": relay["args"]["upToDepositId"] if relay else None,
            "relay_tx_hash": "0x" + relay["transactionHash"].hex() if relay else None,
            "relay_block_number": relay["blockNumber"] if relay else None,
            "relayed_at": moment(l1, relay["blockNumber"]) if relay else None,
            "processed_tx_hash": "0x" + leaf["transactionHash"].hex() if leaf else None,
            "processed_block_number": leaf["blockNumber"] if leaf else None,
            "processed_at": moment(l2, leaf["blockNumber"]) if leaf else None,
            "leaf_index": leaf["args"]["depositIndex"] if leaf else None,
        }
    return expected


def _comparable(rows: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    def aware(value: Any) -> Any:
        return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value

    skip = {"deposit_id", "updated_at", "cancel_tx_hash", "cancel_block_number"}
    return {i: {k: aware(v) for k, v in row.items() if k not in skip} for i, row in rows.items()}


def _setup_history(devnet: RunningDevnet, settings: Settings) -> tuple[int, int, int, int]:
    """full_flow (processed deposits and one canceled), then one relayed-only and one pending deposit."""
    url = settings.warehouse_url
    activity = full_flow(devnet, url, PLAN)
    relayed_id = _deposit(devnet, 10**15)
    relay_block = _relay_without_delivery(devnet, relayed_id)
    pending_id = _deposit(devnet, 3 * 10**15 + 1)
    index_all(settings, url)
    return activity.deposit_ids[-1], relayed_id, relay_block, pending_id


def test_rows_equal_the_chain_and_rematerializing_changes_nothing(
    devnet: RunningDevnet, indexed_settings: Settings
) -> None:
    url = indexed_settings.warehouse_url
    canceled_id, relayed_id, _, pending_id = _setup_history(devnet, indexed_settings)

    first = _materialize(url)
    assert first.success and _check_passed(first)
    rows = _rows(url)
    expected = _chain_expectation(devnet)
    assert _comparable(rows) == expected
    statuses = {i: row["status"] for i, row in rows.items()}
    assert statuses[canceled_id] == "canceled" and rows[canceled_id]["cancel_tx_hash"] is not None
    assert statuses[relayed_id] == "relayed" and statuses[pending_id] == "pending"
    processed = [i for i, s in statuses.items() if s == "processed"]
    assert processed, "full_flow processes its non-canceled deposits on L2"
    # Leaves are inserted in id order from index 0 (no deposit before the flow's on a fresh devnet).
    assert [rows[i]["leaf_index"] for i in sorted(processed)] == list(range(len(processed)))

    metadata = _metadata(first)
    assert metadata["processed_count"] == len(processed)
    assert metadata["canceled_count"] == 1 and metadata["relayed_count"] == 1 and metadata["pending_count"] == 1
    assert metadata["newest_deposit_id"] == pending_id
    assert metadata["oldest_pending_age_seconds"] >= 0

    # Incremental and full re-materializations write nothing (updated_at included).
    again = _materialize(url)
    assert _metadata(again)["written"] == 0 and _rows(url) == rows
    rebuilt = _materialize(url, full_rebuild=True)
    assert _metadata(rebuilt)["examined"] == len(rows) and _metadata(rebuilt)["written"] == 0
    assert _rows(url) == rows


def test_rolled_back_events_roll_the_rows_back_and_the_check_fails(
    devnet: RunningDevnet, indexed_settings: Settings
) -> None:
    url = indexed_settings.warehouse_url
    canceled_id, relayed_id, relay_block, pending_id = _setup_history(devnet, indexed_settings)
    assert _materialize(url).success
    before = _rows(url)
    assert before[relayed_id]["status"] == "relayed"

    # A reorg repair drops the unprocessed relay: the deposit is pending again, its relay columns empty.
    _roll_back_l1(devnet, indexed_settings, url, relay_block - 1)
    result = _materialize(url)
    assert _check_passed(result)
    after = _rows(url)
    assert after[relayed_id]["status"] == "pending"
    assert after[relayed_id]["relay_up_to_deposit_id"] is None and after[relayed_id]["relay_tx_hash"] is None
    assert pending_id not in after  # its Deposited is above the rollback: the row disappears
    assert {i: r for i, r in after.items() if i != relayed_id} == {
        i: r for i, r in before.items() if i not in (relayed_id, pending_id)
    }

    # Re-indexing restores the chain's events, and the rows follow.
    index_all(indexed_settings, url)
    _materialize(url)
    assert _comparable(_rows(url)) == _chain_expectation(devnet)

    # Rolling back the relay of the processed deposits (their L2 leaves stay): the check fails.
    first_relay = min(r["relay_block_number"] for r in before.values() if r["status"] == "processed")
    _roll_back_l1(devnet, indexed_settings, url, first_relay - 1)
    failed = _materialize(url)
    assert failed.success and not _check_passed(failed)
    rows = _rows(url)
    assert rows[canceled_id]["status"] == "canceled"  # canceled before the relay: untouched
    processed = [r for r in rows.values() if r["status"] == "processed"]
    assert processed and all(r["relay_up_to_deposit_id"] is None for r in processed)
