"""Read-only numbers about the `deposits` table: the asset's metadata and its check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from intmax_core.warehouse.deposits_tables import DepositStatus, deposits
from intmax_core.warehouse.types import utc


@dataclass(frozen=True)
class DepositSummary:
    counts: dict[str, int]  # every status, zero included, so dashboards see a stable set of series
    oldest_pending_age_seconds: float | None
    newest_deposit_id: int | None


def summarize(connection: Connection, now: datetime | None = None) -> DepositSummary:
    counts = {status.value: 0 for status in DepositStatus}
    for status, count in connection.execute(select(deposits.c.status, func.count()).group_by(deposits.c.status)):
        counts[status] = count
    oldest = utc(
        connection.execute(
            select(func.min(deposits.c.deposited_at)).where(deposits.c.status == DepositStatus.PENDING.value)
        ).scalar()
    )
    age = None if oldest is None else ((now or datetime.now(UTC)) - oldest).total_seconds()
    newest = connection.execute(select(func.max(deposits.c.deposit_id))).scalar()
    return DepositSummary(counts, age, newest)


def processed_without_relay(connection: Connection, limit: int = 20) -> tuple[int, list[int]]:
    """Processed deposits with no relay batch (impossible on a consistent history): count and first ids.

    It happens when the L2 leaf is indexed but the L1 DepositsRelayed is not (yet), e.g. a gap or a
    rolled-back L1 range that has not been re-indexed.
    """
    where = (deposits.c.status == DepositStatus.PROCESSED.value) & deposits.c.relay_up_to_deposit_id.is_(None)
    count = connection.execute(select(func.count()).select_from(deposits).where(where)).scalar_one()
    ids = connection.execute(
        select(deposits.c.deposit_id).where(where).order_by(deposits.c.deposit_id).limit(limit)
    ).scalars()
    return count, list(ids)
