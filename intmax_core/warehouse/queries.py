"""Small query functions over the warehouse tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals


def withdrawal_status_counts(connection: Connection) -> dict[str, int]:
    """Number of withdrawals in each status; every status is present, zero when empty."""
    rows = connection.execute(select(withdrawals.c.status, func.count()).group_by(withdrawals.c.status))
    counts = {status.value: 0 for status in WithdrawalStatus}
    for status, count in rows:
        counts[WithdrawalStatus(status).value] = count
    return counts


def oldest_requested_at(connection: Connection) -> datetime | None:
    """When the oldest still-`requested` withdrawal was created: how long the aggregator is behind."""
    return connection.execute(
        select(func.min(withdrawals.c.created_at)).where(withdrawals.c.status == WithdrawalStatus.REQUESTED)
    ).scalar_one()
