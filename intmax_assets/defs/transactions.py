"""The transaction ledger as an asset: rows per status, and an alert while any row is parked.

A parked row (intmax_core.warehouse.ledger) is an action the sender will not retry by itself: a
revert its purpose did not declare "already done" or "may succeed later", or a mined transaction
whose effect failed. The sender logs an ERROR line when it parks one; this asset's
`no_parked_transactions` check keeps failing (severity ERROR) for as long as one stays parked,
so the alert does not scroll away with the logs. An operator inspects it with
`intmax tx list --status parked` and re-queues it with `intmax tx requeue <purpose> <key>`.

The schedule materializes the asset (and so runs the check) at INTMAX_TRANSACTION_LEDGER_CRON
(every 5 minutes by default).
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from intmax_assets.resources import WarehouseResource
from intmax_core.config import Settings
from intmax_core.warehouse.ledger import TransactionStatus
from intmax_core.warehouse.ledger_repository import LedgerRepository

NO_PARKED_TRANSACTIONS = "no_parked_transactions"
# Parked rows named in the check's result; the count covers all of them.
PARKED_LISTED = 20


@dg.asset(
    group_name="transactions",
    kinds={"sql"},
    check_specs=[
        dg.AssetCheckSpec(
            NO_PARKED_TRANSACTIONS,
            asset="transaction_ledger",
            description="No ledger row is parked (waiting for an operator to re-queue it).",
        )
    ],
)
def transaction_ledger(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """How many ledger rows (intended transactions) are in each status; parked ones by name."""
    ledger = LedgerRepository(warehouse.engine)
    counts = ledger.status_counts()
    parked = ledger.list_rows(status=TransactionStatus.PARKED, limit=PARKED_LISTED)
    listed: list[dict[str, Any]] = [
        {
            "purpose": row["purpose"],
            "idempotency_key": row["idempotency_key"],
            "chain_id": row["chain_id"],
            "error": row["error_name"],
            "reason": row["parked_reason"],
        }
        for row in parked
    ]
    parked_count = counts[TransactionStatus.PARKED.value]
    if parked_count:
        names = ", ".join(f"{item['purpose']}/{item['idempotency_key']}" for item in listed)
        description = f"{parked_count} parked: {names}" + (" ..." if parked_count > len(listed) else "")
    else:
        description = "no parked transaction"
    check = dg.AssetCheckResult(
        check_name=NO_PARKED_TRANSACTIONS,
        passed=parked_count == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={"parked_count": parked_count, "parked": dg.MetadataValue.json(listed)},
    )
    return dg.MaterializeResult(
        metadata={f"{status}_count": count for status, count in counts.items()}, check_results=[check]
    )


def build_transaction_ledger_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="transaction_ledger_schedule",
        target=transaction_ledger,
        cron_schedule=settings.transaction_ledger_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Summarise the transaction ledger and check for parked transactions "
        "(INTMAX_TRANSACTION_LEDGER_CRON).",
    )
