"""The `token_prices` asset (group `tokens`): the CoinGecko price list, on a schedule, and its freshness check.

The asset calls intmax_core.tokens.prices.sync_token_prices, which writes `token_prices` (the
served list, replaced in one transaction) and `token_price_history` only when the whole sync
succeeded: a failed run leaves the previous list served. The schedule runs it at
INTMAX_TOKEN_PRICES_CRON (hourly by default); a new deployment (no list yet) gets its first sync
from `token_prices_first_sync_sensor` at once, retried with backoff until one succeeds.

`token_prices_fresh` WARNs when the served list is older than two schedule intervals (the
longest gap between two firings of the cron): a sync failing twice in a row, or a stopped
schedule. It runs with every sync and on its own at INTMAX_TOKEN_PRICES_FRESHNESS_CRON (every 15
minutes by default), so that it also fires when syncs fail (a failed run never reaches the check of
its own asset).
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.

from datetime import UTC, datetime

import dagster as dg

from intmax_assets.defs.run_status import assets_in_flight, prior_attempts
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.rpc import RpcError, RpcUnavailable
from intmax_core.config import Settings
from intmax_core.cron import longest_gap
from intmax_core.tokens.coingecko_client import CoinGeckoClient
from intmax_core.tokens.multicall import MulticallError
from intmax_core.tokens.prices import PriceSyncError, newest_sync, sync_token_prices

TOKEN_PRICES = dg.AssetKey("token_prices")
FRESHNESS_CHECK = "token_prices_fresh"
# The list may be this many schedule intervals old before the check warns: one missed sync is
# tolerated (a transient CoinGecko outage), two are not.
STALE_AFTER_INTERVALS = 2
FIRST_SYNC_INTERVAL_SECONDS = 30
FIRST_SYNC_TAG = "intmax/token_prices_first_sync"


def build_token_prices(
    settings: Settings,
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition, list[dg.ScheduleDefinition], dg.SensorDefinition]:
    @dg.asset(
        name="token_prices",
        group_name="tokens",
        kinds={"sql"},
        description="CoinGecko's Ethereum tokens and ETH with USD price, decimals and logo (token_prices), and "
        "one history row per token per sync (token_price_history). A failed sync writes nothing.",
    )
    def token_prices(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, l1: ChainResource
    ) -> dg.MaterializeResult:
        if not settings.coingecko_url:
            raise dg.Failure("token_prices needs INTMAX_COINGECKO_URL (e.g. https://api.coingecko.com/api/v3)")
        coingecko = CoinGeckoClient(
            settings.coingecko_url,
            api_key=settings.coingecko_api_key,
            timeout=settings.coingecko_timeout_seconds,
            max_attempts=settings.coingecko_max_attempts,
            max_retry_wait=settings.coingecko_max_retry_wait_seconds,
        )
        with coingecko, l1.client() as client:
            l1.verified_chain_id(client)
            try:
                report = sync_token_prices(
                    warehouse.engine,
                    coingecko,
                    client,
                    settings.l1_multicall3_address,
                    default_image=settings.token_default_image_url,
                    batch_pause_seconds=settings.coingecko_batch_pause_seconds,
                )
            except PriceSyncError as error:
                raise dg.Failure(str(error), metadata={"retries": coingecko.stats.retries}) from None
            except (RpcError, RpcUnavailable, MulticallError) as error:
                raise dg.Failure(
                    f"reading token decimals on L1 failed: {error}; the previous price list stays served"
                ) from None
        context.log.info(f"token_prices: {report.token_count} tokens in {report.batches} batches")
        return dg.MaterializeResult(
            metadata={
                "token_count": report.token_count,
                "priced_count": report.priced_count,
                "batches": report.batches,
                "decimals_read_on_chain": report.decimals_read,
                "retries": report.retries,
                "requests": report.requests,
                "duration_seconds": round(report.duration_seconds, 3),
                "synced_at": report.synced_at.isoformat(),
            }
        )

    @dg.asset_check(
        asset=token_prices,
        name=FRESHNESS_CHECK,
        description=f"The served price list is at most {STALE_AFTER_INTERVALS} schedule intervals old "
        "(INTMAX_TOKEN_PRICES_CRON).",
    )
    def token_prices_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        limit = STALE_AFTER_INTERVALS * longest_gap(settings.token_prices_cron)
        with warehouse.engine.connect() as connection:
            synced_at = newest_sync(connection)
        if synced_at is None:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="no price list has been synced yet",
                metadata={"max_age_seconds": limit.total_seconds()},
            )
        age = datetime.now(UTC) - synced_at
        return dg.AssetCheckResult(
            passed=age <= limit,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"the served list was synced {age.total_seconds():.0f} s ago "
            f"(limit {limit.total_seconds():.0f} s)",
            metadata={
                "age_seconds": round(age.total_seconds(), 1),
                "max_age_seconds": limit.total_seconds(),
                "synced_at": synced_at.isoformat(),
            },
        )

    sync_schedule = dg.ScheduleDefinition(
        name="token_prices_schedule",
        target=token_prices,
        cron_schedule=settings.token_prices_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Sync token prices from CoinGecko (INTMAX_TOKEN_PRICES_CRON).",
    )
    freshness_job = dg.define_asset_job(
        "token_prices_freshness", selection=dg.AssetSelection.checks(token_prices_fresh)
    )
    freshness_schedule = dg.ScheduleDefinition(
        name="token_prices_freshness_schedule",
        job=freshness_job,
        cron_schedule=settings.token_prices_freshness_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Checks that the served price list is fresh (INTMAX_TOKEN_PRICES_FRESHNESS_CRON).",
    )

    @dg.sensor(
        name="token_prices_first_sync_sensor",
        asset_selection=[TOKEN_PRICES],
        minimum_interval_seconds=FIRST_SYNC_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse"},
        description="Syncs prices at once when no list was ever synced (a new deployment), instead of waiting "
        "for the schedule; idle afterwards.",
    )
    def token_prices_first_sync_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if not settings.coingecko_url:
            return dg.SkipReason("INTMAX_COINGECKO_URL is not set")
        with context.resources.warehouse.engine.connect() as connection:
            if newest_sync(connection) is not None:
                return dg.SkipReason("a price list exists; the schedule keeps it current")
        if assets_in_flight(context.instance, [TOKEN_PRICES]):
            return dg.SkipReason("a price sync is already queued or running")
        attempts = prior_attempts(context.instance, FIRST_SYNC_TAG, "first")
        if attempts.wait_seconds > 0:
            return dg.SkipReason(
                f"first sync attempt {attempts.count} failed; retrying in {attempts.wait_seconds:.0f} s"
            )
        return dg.RunRequest(run_key=attempts.run_key("token_prices:first-sync"), tags={FIRST_SYNC_TAG: "first"})

    return token_prices, token_prices_fresh, [sync_schedule, freshness_schedule], token_prices_first_sync_sensor
