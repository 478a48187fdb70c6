"""Withdrawal assets: the state of the withdrawal-server's `withdrawals` table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from intmax_assets.resources import WarehouseResource
from intmax_core.warehouse import queries


@dg.asset(group_name="withdrawals", kinds={"sql"})
def withdrawal_status_summary(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """How many withdrawals are in each status, and how long the oldest `requested` one has waited."""
    with warehouse.engine.connect() as connection:
        counts = queries.withdrawal_status_counts(connection)
        oldest = queries.oldest_requested_at(connection)
    metadata: dict[str, Any] = {f"{status}_count": count for status, count in counts.items()}
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite returns naive UTC timestamps
            oldest = oldest.replace(tzinfo=UTC)
        metadata["oldest_requested_age_seconds"] = (datetime.now(UTC) - oldest).total_seconds()
    return dg.MaterializeResult(metadata=metadata)
