"""The `monitors` group: block sync (validity prover vs Rollup) and the operational wallets' balances."""

import dagster as dg

from intmax_assets.defs.monitors.block_sync import build_block_sync_monitor
from intmax_assets.defs.monitors.wallets import build_wallet_observer
from intmax_core.config import Settings


def build_monitor_definitions(settings: Settings) -> tuple[list[dg.AssetsDefinition], list[dg.ScheduleDefinition]]:
    """The monitors that the settings configure (each needs its own: a validity prover URL, the mnemonic)."""
    assets, schedules = [], []
    for built in (build_block_sync_monitor(settings), build_wallet_observer(settings)):
        if built is not None:
            assets.append(built[0])
            schedules.append(built[1])
    return assets, schedules
