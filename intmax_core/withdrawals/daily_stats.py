"""Per UTC request day and token: withdrawals per status, volume, latencies and L2 gas (pandas).

Inputs: the day's `withdrawals` rows (by `created_at`), their L2 queue events (relayed time), their
first L1 event (paid or made claimable), and the group that submitted them with its ledger row
(`gas_used` of the submission, shared equally by the withdrawals it carried). Amounts stay Python
ints (exact); percentiles use pandas' linear interpolation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select

from intmax_core.warehouse.aggregator_tables import (
    GroupStatus,
    withdrawal_daily_stats,
    withdrawal_group_members,
    withdrawal_groups,
)
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals
from intmax_core.warehouse.types import utc

if TYPE_CHECKING:  # imported where used: see intmax_core.deposits.daily_stats
    import pandas as pd

STATUSES = [s.value for s in WithdrawalStatus]
QUEUE_EVENTS = ("DirectWithdrawalQueued", "ClaimableWithdrawalQueued")
L1_EVENTS = ("DirectWithdrawalSuccessed", "WithdrawalClaimable")


def _first_times(connection: Connection, names: tuple[str, ...], hashes: list[str]) -> dict[str, datetime]:
    first: dict[str, datetime] = {}
    for name in names:
        table = EVENT_TABLES[name]
        for h, moment in connection.execute(
            select(table.c.withdrawal_hash, table.c.block_time).where(table.c.withdrawal_hash.in_(hashes))
        ):
            moment = utc(moment)
            if h not in first or moment < first[h]:
                first[h] = moment
    return first


def _gas_per_withdrawal(connection: Connection, hashes: list[str]) -> dict[str, float]:
    g, m = withdrawal_groups, withdrawal_group_members
    rows = connection.execute(
        select(m.c.withdrawal_hash, transactions.c.gas_used, g.c.member_count)
        .join(g, g.c.group_id == m.c.group_id)
        .join(transactions, transactions.c.tx_hash == g.c.l2_tx_hash)
        .where(m.c.withdrawal_hash.in_(hashes), g.c.status == GroupStatus.SUBMITTED.value)
    )
    return {h: gas / count for h, gas, count in rows if gas is not None and count}


def read_day(connection: Connection, day: date) -> pd.DataFrame:
    import pandas as pd

    start = datetime.combine(day, time.min, UTC)
    rows = connection.execute(
        select(
            withdrawals.c.withdrawal_hash,
            withdrawals.c.status,
            withdrawals.c.contract_withdrawal,
            withdrawals.c.created_at,
        ).where(withdrawals.c.created_at >= start, withdrawals.c.created_at < start + timedelta(days=1))
    ).all()
    hashes = [r.withdrawal_hash for r in rows]
    queued = _first_times(connection, QUEUE_EVENTS, hashes) if hashes else {}
    on_l1 = _first_times(connection, L1_EVENTS, hashes) if hashes else {}
    gas = _gas_per_withdrawal(connection, hashes) if hashes else {}
    records = []
    for r in rows:
        contract = r.contract_withdrawal or {}
        records.append(
            {
                "status": str(getattr(r.status, "value", r.status)),
                "token_index": int(contract.get("tokenIndex", 0)),
                "amount": int(contract.get("amount", 0)),
                "created_at": utc(r.created_at),
                "queued_at": queued.get(r.withdrawal_hash),
                "l1_at": on_l1.get(r.withdrawal_hash),
                "gas": gas.get(r.withdrawal_hash),
            }
        )
    frame = pd.DataFrame(
        records, columns=["status", "token_index", "amount", "created_at", "queued_at", "l1_at", "gas"]
    )
    frame["amount"] = frame["amount"].astype(object)
    for column in ("created_at", "queued_at", "l1_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _quantile(series: pd.Series, q: float) -> float | None:
    series = series.dropna()
    return float(series.quantile(q)) if len(series) else None


def compute_day(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    frame = frame.assign(
        to_relayed=(frame["queued_at"] - frame["created_at"]).dt.total_seconds(),
        to_l1=(frame["l1_at"] - frame["queued_at"]).dt.total_seconds(),
    )
    rows = []
    for token_index, group in frame.groupby("token_index", sort=True):
        counts = group["status"].value_counts()
        gas = group["gas"].dropna()
        rows.append(
            {
                "token_index": int(token_index),
                **{f"{status}_count": int(counts.get(status, 0)) for status in STATUSES},
                "amount_base_units": sum(int(a) for a in group["amount"]),
                "p50_to_relayed_seconds": _quantile(group["to_relayed"], 0.5),
                "p95_to_relayed_seconds": _quantile(group["to_relayed"], 0.95),
                "p50_relayed_to_l1_seconds": _quantile(group["to_l1"], 0.5),
                "p95_relayed_to_l1_seconds": _quantile(group["to_l1"], 0.95),
                "gas_per_withdrawal": float(gas.mean()) if len(gas) else None,
            }
        )
    return rows


def write_day(connection: Connection, day: date, rows: list[dict[str, Any]]) -> None:
    connection.execute(delete(withdrawal_daily_stats).where(withdrawal_daily_stats.c.day == day))
    if rows:
        connection.execute(insert(withdrawal_daily_stats), [{"day": day, **row} for row in rows])
