"""The `minter_actions` asset: decides, and sends through the token manager, the Minter's due actions.

Materialized by a daily schedule (INTMAX_MINTING_SCHEDULE_CRON, UTC). Each run decides per action
(mint every 4 weeks, transferToLiquidity every week, counted in UTC days from the last one's block
time) and sends what is due; a period is sent at most once, so a second run in the same period
sends nothing (intmax_core.minting.executor). The metadata says, per action, what was decided and
why, when the next period is due, and the rows per action and status.

The check `minter_actions_not_overdue` (WARN) fails while an action is due but not done after the
run: its transaction failed, was parked, is not yet mined, or the Minter's events are not indexed
far enough to know.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from intmax_assets.defs.indexing.assets import asset_key
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.signers import SignerError, SignerRole, signer_for_role
from intmax_core.config import Settings
from intmax_core.indexing.streams import STREAMS_BY_NAME
from intmax_core.minting import history
from intmax_core.minting.executor import MinterExecutor, MinterRun, token_manager_sender
from intmax_core.minting.schedule import effective_available_from

MINTER_ACTIONS_NOT_OVERDUE = "minter_actions_not_overdue"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _metadata(run: MinterRun, counts: dict[str, int]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"decided_at": dg.MetadataValue.timestamp(run.now)}
    for report in run.reports:
        name = report.action.value
        metadata[f"{name}_decision"] = dg.MetadataValue.json(report.as_metadata())
        after = report.after
        if after is not None and after.due_at is not None:
            metadata[f"{name}_next_due_at"] = dg.MetadataValue.timestamp(after.due_at)
    metadata["sent"] = sum(1 for r in run.reports if r.did == "sent")
    metadata["overdue"] = sum(1 for r in run.reports if r.overdue)
    metadata |= {f"rows_{key.replace(':', '_')}": count for key, count in sorted(counts.items())}
    return metadata


def _check(run: MinterRun) -> dg.AssetCheckResult:
    overdue = [r for r in run.reports if r.overdue]
    lines = []
    for report in overdue:
        since = report.after.due_at.isoformat() if report.after and report.after.due_at else "unknown"
        state = report.status.value if report.status else report.did
        lines.append(f"{report.action.value} due since {since} ({state}): {report.error or 'not done'}")
    return dg.AssetCheckResult(
        check_name=MINTER_ACTIONS_NOT_OVERDUE,
        passed=not overdue,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(lines) if lines else "no action is overdue",
        metadata={"overdue_actions": str([r.action.value for r in overdue])},
    )


def build_minting_definitions(
    settings: Settings, clock: Clock = utc_now
) -> tuple[list[dg.AssetsDefinition], list[dg.ScheduleDefinition]]:
    """The asset and its schedule; `clock` is the decision's `now` (tests inject one that follows the devnet)."""

    @dg.asset(
        name="minter_actions",
        group_name="minting",
        kinds={"sql"},
        deps=[asset_key(STREAMS_BY_NAME["l1_minter"])],
        check_specs=[
            dg.AssetCheckSpec(
                MINTER_ACTIONS_NOT_OVERDUE,
                asset="minter_actions",
                description="No Minter action (mint, transferToLiquidity) is due and not done after the run.",
            )
        ],
    )
    def minter_actions(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, l1: ChainResource
    ) -> dg.MaterializeResult:
        """ITX mint() every 4 weeks and transferToLiquidity every week, by the token manager (wallet 4)."""
        if not settings.minter_address:
            raise dg.Failure("minting needs INTMAX_MINTER_ADDRESS")
        try:
            signer = signer_for_role(settings, SignerRole.TOKEN_MANAGER)
        except SignerError as error:
            raise dg.Failure(f"minting needs the token manager wallet: {error}") from None
        with l1.client() as client:
            chain_id = l1.verified_chain_id(client)
            sender = token_manager_sender(
                client, warehouse.engine, signer, chain_id, max_fee_per_gas=l1.max_fee_per_gas_wei
            )
            executor = MinterExecutor(
                warehouse.engine,
                client,
                sender,
                minter=settings.minter_address,
                available_from=effective_available_from(settings.mint_available_from, settings.network),
                max_cursor_lag_blocks=settings.l1_cursor_lag_error_blocks,
            )
            run = executor.run(clock())
        for report in run.reports:
            context.log.info(f"{report.action.value}: {report.did} {report.as_metadata()}")
        with warehouse.engine.connect() as connection:
            counts = history.action_counts(connection)
        return dg.MaterializeResult(metadata=_metadata(run, counts), check_results=[_check(run)])

    schedule = dg.ScheduleDefinition(
        name="minter_actions_schedule",
        target=minter_actions,
        cron_schedule=settings.minting_schedule_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Decide and send the Minter's due actions once a day (UTC); a period is never sent twice.",
    )
    return [minter_actions], [schedule]
