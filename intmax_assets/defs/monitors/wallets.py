"""`wallet_balances` (group `monitors`): the operational wallets' ETH, on a schedule (INTMAX_WALLET_OBSERVER_CRON).

Each run reads every wallet's balance (intmax_core.monitors.wallets) and records one plottable
float per wallet (`balance_eth/<name>_<chain>`) and `insufficient_wallets`; any wallet at or below
its threshold raises the INFO alert. An unreadable balance fails the run (the run-failure sensor
reports it): an unknown balance is neither sufficient nor low.

Defined only when INTMAX_OWNER_MNEMONIC is set: the wallets are derived from it.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.

import dagster as dg

from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.rpc import RpcError, RpcUnavailable
from intmax_core.config import Settings
from intmax_core.monitors.wallets import WalletBalanceUnknown, check_wallets

ASSET = "wallet_balances"
JOB = "wallet_observer_job"


def build_wallet_observer(settings: Settings) -> tuple[dg.AssetsDefinition, dg.ScheduleDefinition] | None:
    """The asset and its schedule, or None when no owner mnemonic is configured."""
    if settings.owner_mnemonic is None:
        return None

    @dg.asset(
        name=ASSET,
        group_name="monitors",
        description="ETH balance of each operational wallet (and, on the devnet, the mock messenger's); INFO alert "
        "listing them all when any is at or below its threshold.",
    )
    def wallet_balances(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, l1: ChainResource, l2: ChainResource
    ) -> dg.MaterializeResult:
        try:
            with l1.client() as l1_client, l2.client() as l2_client:
                l1.verified_chain_id(l1_client)
                l2.verified_chain_id(l2_client)
                balances, alert = check_wallets(settings, {"L1": l1_client, "L2": l2_client}, engine=warehouse.engine)
        except WalletBalanceUnknown as error:
            raise dg.Failure(f"wallet balance unknown: {error}") from None
        except (RpcError, RpcUnavailable) as error:
            raise dg.Failure(f"wallet balances unknown: chain unreadable: {error}") from None
        low = [b for b in balances if not b.sufficient]
        names = ", ".join(b.wallet.key for b in low)
        context.log.info(f"{len(balances)} wallets, {len(low)} insufficient" + (f": {names}" if low else ""))
        metadata: dict[str, object] = {f"balance_eth/{b.wallet.key}": float(b.balance_eth) for b in balances}
        metadata["insufficient_wallets"] = len(low)
        if alert is not None:
            metadata["alert"] = alert.status.value
        return dg.MaterializeResult(metadata=metadata)

    job = dg.define_asset_job(JOB, selection=[wallet_balances])
    schedule = dg.ScheduleDefinition(
        name="wallet_observer_schedule",
        job=job,
        cron_schedule=settings.wallet_observer_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Reads the operational wallets' ETH balances (INTMAX_WALLET_OBSERVER_CRON).",
    )
    return wallet_balances, schedule
