"""withdrawal_daily_stats: per request day and token, from withdrawals, events, groups and the ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import insert, select, update

from intmax_assets.defs.withdrawals.daily_stats import build_withdrawal_daily_stats
from intmax_assets.resources import WarehouseResource
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.aggregator_tables import withdrawal_daily_stats, withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.schema import withdrawals
from tests.withdrawal_rows import event, request

DAY = date(2026, 3, 14)
T0 = datetime(2026, 3, 14, 1, tzinfo=UTC)
L2_TX = "0x" + "2a" * 32


def test_a_day_per_token(warehouse_url: str, tmp_path: Path) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        # ETH: three submitted in one group (gas 300,000 -> 100,000 each), queued after 10/20/30 s;
        # two paid on L1 100 s and 300 s after their queue event, one claimable.
        hashes = [request(connection, i, T0 + timedelta(minutes=i), status="relayed") for i in (1, 2, 3)]
        for n, h in enumerate(hashes):
            event(connection, "DirectWithdrawalQueued", 10, n, L2_TX, withdrawal_hash=h,
                  block_time=T0 + timedelta(minutes=n + 1, seconds=10 * (n + 1)))  # fmt: skip
        paid_at = [100, 300]
        for n, h in enumerate(hashes[:2]):
            event(connection, "DirectWithdrawalSuccessed", 20, n, "0x" + "1b" * 32, withdrawal_hash=h,
                  block_time=T0 + timedelta(minutes=n + 1, seconds=10 * (n + 1) + paid_at[n]))  # fmt: skip
        connection.execute(
            insert(withdrawal_groups).values(group_id="g" * 36, status="submitted", member_count=3, l2_tx_hash=L2_TX)
        )
        connection.execute(
            insert(withdrawal_group_members),
            [{"group_id": "g" * 36, "position": n, "withdrawal_hash": h} for n, h in enumerate(hashes)],
        )
        connection.execute(
            insert(transactions).values(
                purpose="withdrawal_submission", idempotency_key="g:1", chain_id=2, signer="0x" + "aa" * 20,
                to_address="0x" + "bb" * 20, value=0, calldata_hash="0x" + "00" * 32, calldata=b"",
                status="confirmed", tx_hash=L2_TX, gas_used=300_000,
            )
        )  # fmt: skip
        # Token 2: one still requested, with a huge amount; another day's request is not counted.
        huge = request(connection, 9, T0 + timedelta(hours=5))
        connection.execute(
            update(withdrawals)
            .where(withdrawals.c.withdrawal_hash == huge)
            .values(
                contract_withdrawal={
                    "recipient": "0x" + "02" * 20,
                    "tokenIndex": 2,
                    "amount": str(2**200),
                    "nullifier": huge,
                }
            )
        )
        request(connection, 10, T0 - timedelta(hours=2))
    settings = load_settings(data_dir=tmp_path, database_url=warehouse_url, indexing_start_date=date(2026, 1, 1))
    asset, _ = build_withdrawal_daily_stats(settings)
    result = dg.materialize(
        [asset], partition_key=DAY.isoformat(), resources={"warehouse": WarehouseResource(url=warehouse_url)}
    )
    assert result.success
    with engine.connect() as connection:
        rows = {r["token_index"]: dict(r) for r in connection.execute(select(withdrawal_daily_stats)).mappings()}
    engine.dispose()
    eth, token2 = rows[0], rows[2]
    assert (eth["relayed_count"], eth["requested_count"], eth["amount_base_units"]) == (3, 0, 3)
    assert eth["p50_to_relayed_seconds"] == 20.0 and eth["p95_to_relayed_seconds"] == pytest.approx(29.0)
    assert eth["p50_relayed_to_l1_seconds"] == 200.0  # median of 100 and 300
    assert eth["gas_per_withdrawal"] == 100_000.0
    assert (token2["requested_count"], token2["amount_base_units"], token2["p50_to_relayed_seconds"]) == (
        1,
        2**200,
        None,
    )
    assert set(rows) == {0, 2}
    (materialization,) = [e.materialization for e in result.get_asset_materialization_events()]
    assert materialization.metadata["withdrawals"].value == 4
    assert materialization.metadata["relayed_count"].value == 3
