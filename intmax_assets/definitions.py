"""The Dagster code location: `defs`, with resources chosen from the pipeline settings."""

from __future__ import annotations

import dagster as dg

from intmax_assets.defs import deposits, transactions, txmap, withdrawals
from intmax_assets.defs.alerts import build_run_failure_alert_sensor
from intmax_assets.defs.builders import build_builder_definitions
from intmax_assets.defs.deposits.daily_stats import build_deposit_daily_stats
from intmax_assets.defs.deposits.relay import build_deposit_relay
from intmax_assets.defs.deposits.sensors import deposits_refresh_sensor
from intmax_assets.defs.indexing import build_indexing_definitions
from intmax_assets.defs.messaging import build_mock_relayers
from intmax_assets.defs.minting import build_minting_definitions
from intmax_assets.defs.monitors import build_monitor_definitions
from intmax_assets.defs.tokens import build_token_definitions
from intmax_assets.defs.withdrawals.daily_stats import build_withdrawal_daily_stats
from intmax_assets.defs.withdrawals.groups import build_collector
from intmax_assets.defs.withdrawals.messenger import build_messenger_relayer
from intmax_assets.defs.withdrawals.processing import build_processing
from intmax_assets.executor import build_executor
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.config import Settings, load_settings


def _chain(settings: Settings, chain: str) -> ChainResource:
    def setting(name: str) -> object:
        return getattr(settings, f"{chain}_{name}")

    return ChainResource(
        name=chain.upper(),
        rpc_urls=setting("rpc_urls"),
        chain_id=setting("chain_id"),
        confirmations=setting("confirmations"),
        log_range=setting("log_range"),
        max_log_range=setting("max_log_range"),
        max_fee_per_gas_gwei=setting("max_fee_per_gas_gwei"),
    )


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "l1": _chain(settings, "l1"),
        "l2": _chain(settings, "l2"),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    indexing_assets, indexing_sensors = build_indexing_definitions(settings)
    minting_assets, minting_schedules = build_minting_definitions(settings)
    relay_job, relay_sensor = build_deposit_relay(settings)
    daily_stats, daily_stats_schedule, daily_stats_sensor = build_deposit_daily_stats(settings)
    jobs, sensors = [relay_job], [*indexing_sensors, relay_sensor, deposits_refresh_sensor, daily_stats_sensor]
    schedules: list[dg.ScheduleDefinition] = []
    if settings.network == "devnet":  # the mock messengers exist only on the devnet
        (l1_to_l2_job, l2_to_l1_job), (l1_to_l2_sensor, l2_to_l1_sensor) = build_mock_relayers(settings)
        jobs.append(l1_to_l2_job)
        sensors.append(l1_to_l2_sensor)
    if settings.network == "devnet" and settings.l2_to_l1_relayer == "mock":
        jobs.append(l2_to_l1_job)
        sensors.append(l2_to_l1_sensor)
    else:
        messenger_job, messenger_schedule = build_messenger_relayer(settings)
        jobs.append(messenger_job)
        schedules.append(messenger_schedule)
    tokens = build_token_definitions(settings)
    builder_assets, builder_job, builder_schedule = build_builder_definitions(settings)
    jobs.append(builder_job)
    schedules.append(builder_schedule)
    collector, collector_sensor = build_collector(settings)
    group_job, group_sensor = build_processing(settings)
    withdrawal_stats, withdrawal_stats_schedule = build_withdrawal_daily_stats(settings)
    schedules.append(withdrawal_stats_schedule)
    monitor_assets, monitor_schedules = build_monitor_definitions(settings)
    schedules += monitor_schedules
    jobs.append(group_job)
    sensors += [withdrawals.withdrawals_watcher_sensor, collector_sensor, group_sensor]
    sensors += [*tokens.sensors, build_run_failure_alert_sensor(settings)]
    return dg.Definitions(
        assets=[
            *dg.load_assets_from_modules([withdrawals, transactions, deposits, txmap]),
            *indexing_assets,
            *minting_assets,
            daily_stats,
            *tokens.assets,
            collector,
            withdrawal_stats,
            *builder_assets,
            *monitor_assets,
        ],
        asset_checks=tokens.asset_checks,
        schedules=[
            transactions.build_transaction_ledger_schedule(settings),
            txmap.build_tx_map_cleaner_schedule(settings),
            daily_stats_schedule,
            *minting_schedules,
            *tokens.schedules,
            *schedules,
        ],
        jobs=jobs,
        sensors=sensors,
        resources=build_resources(settings),
        # In the run's own process by default; Celery workers with INTMAX_EXECUTOR=celery (see executor.py).
        executor=build_executor(settings),
    )


defs = build_definitions(load_settings())
