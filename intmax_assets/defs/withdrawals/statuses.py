"""The `withdrawals` asset: the withdrawal-server's table, its statuses advanced by the watcher.

Its checks run with every materialization (every time the L1 or L2 withdrawal stream moved), so
they see the aggregator as it is now: every status explained by chain data, nothing stuck.
"""

# No `from __future__ import annotations`: Dagster resolves the context annotation at definition time.

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pydantic

from intmax_assets.defs.cursor_sensor import build_cursor_sensor
from intmax_assets.defs.indexing.assets import asset_key
from intmax_assets.resources import WarehouseResource
from intmax_core.indexing.streams import STREAMS_BY_NAME
from intmax_core.warehouse import queries
from intmax_core.warehouse.types import utc
from intmax_core.withdrawals import audits
from intmax_core.withdrawals.watcher import apply_chain_events

WITHDRAWALS = dg.AssetKey("withdrawals")


class WithdrawalChecksConfig(dg.Config):
    requested_max_age_minutes: float = pydantic.Field(
        60, description="requested_withdrawals_are_picked_up fails for a request older than this."
    )
    relayed_max_age_minutes: float = pydantic.Field(
        120,
        description="relayed_withdrawals_reach_l1 fails for a withdrawal queued on L2 longer ago than this "
        "with no L1 event (its message is not relayed).",
    )
    group_stuck_minutes: float = pydantic.Field(
        30, description="no_withdrawal_group_stuck fails for a proving/submitting group unchanged this long."
    )


CHECKS = {
    "requested_withdrawals_are_picked_up": (
        "No requested withdrawal older than the threshold.",
        dg.AssetCheckSeverity.WARN,
    ),
    "success_is_justified_on_l1": (
        "Every success has its L1 DirectWithdrawalSuccessed or ClaimedWithdrawal indexed.",
        dg.AssetCheckSeverity.ERROR,
    ),
    "relayed_withdrawals_reach_l1": (
        "No relayed withdrawal without an L1 event past the threshold.",
        dg.AssetCheckSeverity.WARN,
    ),
    "no_withdrawal_group_stuck": ("No group left proving or submitting past its budget.", dg.AssetCheckSeverity.WARN),
    "submitted_withdrawals_queued_on_l2": (
        "Every member of a submitted group has its L2 queue event in the group's transaction.",
        dg.AssetCheckSeverity.ERROR,
    ),
}


@dg.asset(
    name="withdrawals",
    group_name="withdrawals",
    kinds={"sql"},
    deps=[asset_key(STREAMS_BY_NAME["l1_liquidity"]), asset_key(STREAMS_BY_NAME["l2_withdrawal"])],
    check_specs=[dg.AssetCheckSpec(name, asset="withdrawals", description=d) for name, (d, _) in CHECKS.items()],
)
def withdrawals_asset(
    context: dg.AssetExecutionContext, config: WithdrawalChecksConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Withdrawal requests (the withdrawal-server's table): the watcher moves each along the L2 queue
    and L1 Liquidity events indexed so far (relayed, success, need_claim), guarded by status."""
    with warehouse.engine.begin() as connection:
        stats = apply_chain_events(connection)
    now = datetime.now(UTC)
    with warehouse.engine.connect() as connection:
        counts = queries.withdrawal_status_counts(connection)
        oldest = utc(queries.oldest_requested_at(connection))
        findings = {
            "requested_withdrawals_are_picked_up": audits.requested_older_than(
                connection, now - timedelta(minutes=config.requested_max_age_minutes)
            ),
            "success_is_justified_on_l1": audits.success_without_l1_event(connection),
            "relayed_withdrawals_reach_l1": audits.relayed_without_l1_event(
                connection, now - timedelta(minutes=config.relayed_max_age_minutes)
            ),
            "no_withdrawal_group_stuck": audits.groups_stuck(
                connection, now - timedelta(minutes=config.group_stuck_minutes)
            ),
            "submitted_withdrawals_queued_on_l2": audits.submitted_members_not_queued(connection),
        }
    context.log.info(f"watcher: applied {stats.applied}")
    metadata: dict[str, Any] = {f"{status}_count": count for status, count in counts.items()}
    metadata |= {f"applied_{name}": count for name, count in stats.applied.items()}
    if oldest is not None:
        metadata["oldest_requested_age_seconds"] = (now - oldest).total_seconds()
    checks = [
        dg.AssetCheckResult(
            check_name=name,
            passed=finding.passed,
            severity=CHECKS[name][1],
            metadata={"violations": finding.count, "examples": str(finding.examples)},
        )
        for name, finding in findings.items()
    ]
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


withdrawals_watcher_sensor = build_cursor_sensor(
    "withdrawals_watcher_sensor",
    ("l1_liquidity", "l2_withdrawal"),
    [WITHDRAWALS],
    "Advances withdrawal statuses when the l1_liquidity or l2_withdrawal cursor moved.",
)
