"""The token price sync against the real devnet and its CoinGecko stand-in (real HTTP, real faults)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from intmax_assets.defs.tokens import build_token_definitions
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.config import Settings, SettingsError, load_settings
from intmax_core.cron import longest_gap
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, token_price_history, token_prices
from intmax_devnet.coingecko import start_standin
from intmax_devnet.coingecko_catalogue import DEVNET_TOKEN_COINS
from intmax_devnet.devnet import RunningDevnet

CLIENT_TIMEOUT_SECONDS = 1.0
# A "timeout" fault sleeps this long: past the client's timeout, short enough for a test.
FAULT_DELAY_SECONDS = 3.0
MARKETS_PATH = "/api/v3/coins/markets"
PING_PATH = "/api/v3/ping"


@pytest.fixture
def settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(
        update={
            "database_url": warehouse_url,
            "coingecko_timeout_seconds": CLIENT_TIMEOUT_SECONDS,
            "coingecko_max_attempts": 3,
            "coingecko_max_retry_wait_seconds": 5.0,
        }
    )


@pytest.fixture
def admin(devnet: RunningDevnet) -> Iterator[str]:
    """The stand-in's admin URL; no fault is left to the next test."""
    assert devnet.coingecko is not None
    url = f"http://127.0.0.1:{devnet.coingecko.port}"
    yield url
    httpx.post(f"{url}/__faults", json={"mode": "500", "count": 0})


def inject(admin: str, mode: str, count: int, **extra: Any) -> None:
    body = {"mode": mode, "count": count, "delay_seconds": FAULT_DELAY_SECONDS, **extra}
    httpx.post(f"{admin}/__faults", json=body).raise_for_status()


def _definitions(settings: Settings) -> dg.Definitions:
    tokens = build_token_definitions(settings)
    l1 = ChainResource(name="L1", rpc_urls=settings.l1_rpc_urls, chain_id=settings.l1_chain_id)
    return dg.Definitions(
        assets=tokens.assets,
        asset_checks=tokens.asset_checks,
        schedules=tokens.schedules,
        resources={"warehouse": WarehouseResource(url=settings.warehouse_url), "l1": l1},
    )


def sync(settings: Settings) -> dg.ExecuteInProcessResult:
    """Materialize token_prices only (its freshness check too, as the schedule's run does)."""
    job = _definitions(settings).resolve_implicit_job_def_def_for_assets([dg.AssetKey("token_prices")])
    assert job is not None
    return job.execute_in_process(asset_selection=[dg.AssetKey("token_prices")], raise_on_error=False)


def freshness(settings: Settings) -> dg.AssetCheckEvaluation:
    """Run the freshness job alone, as its 15-minute schedule does."""
    result = _definitions(settings).resolve_job_def("token_prices_freshness").execute_in_process()
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.error.message


def served(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(token_prices).order_by(token_prices.c.list_position)).mappings().all()
    engine.dispose()
    return [dict(row) for row in rows]


def history_count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(token_price_history)).scalar_one()
    engine.dispose()
    return count


def requests_logged(devnet: RunningDevnet, path: str) -> int:
    assert devnet.coingecko is not None and devnet.coingecko.log_path is not None
    return sum(f"GET {path}" in line for line in devnet.coingecko.log_path.read_text().splitlines())


def test_sync_batches_reads_decimals_and_keeps_them(devnet: RunningDevnet, settings: Settings) -> None:
    assert settings.coingecko_batch_pause_seconds == 0  # the devnet manifest's value
    listed = httpx.get(f"{settings.coingecko_url}/coins/list", params={"include_platform": "true"}).json()
    ethereum = [coin for coin in listed if coin.get("platforms", {}).get("ethereum")]
    expected_count = len(ethereum) + 1  # + the ETH entry the sync adds
    markets_before, pings_before = requests_logged(devnet, MARKETS_PATH), requests_logged(devnet, PING_PATH)

    first = sync(settings)
    assert first.success
    meta = metadata(first)
    batches = math.ceil(expected_count / 250)
    assert batches > 1
    assert (meta["token_count"], meta["batches"], meta["retries"]) == (expected_count, batches, 0)
    # One /ping and one /coins/markets (at most 250 ids, else the stand-in answers 400) per batch.
    assert requests_logged(devnet, MARKETS_PATH) - markets_before == batches
    assert requests_logged(devnet, PING_PATH) - pings_before == batches

    rows = served(settings.warehouse_url)
    assert [r["coingecko_id"] for r in rows] == [c["id"] for c in ethereum] + ["ethereum"]
    assert [r["list_position"] for r in rows] == list(range(expected_count))
    by_id = {r["coingecko_id"]: r for r in rows}
    eth = by_id["ethereum"]
    assert (eth["symbol"], eth["contract_address"], eth["decimals"]) == ("eth", ZERO_ADDRESS, 18)
    contracts = devnet.manifest.contracts
    decimals = {
        by_id[coin_id]["contract_address"]: by_id[coin_id]["decimals"] for coin_id, *_ in DEVNET_TOKEN_COINS.values()
    }
    # Read on chain through Multicall3; the generated coins have no contract, so they get 18.
    assert decimals == {contracts["itx"].address: 18, contracts["wbtc"].address: 8, contracts["usdc"].address: 6}
    assert by_id["devnet-coin-0001"]["decimals"] == 18
    assert all(r["price_usd"] > 0 and r["image"].startswith("https://coin-images.") for r in rows)
    assert meta["priced_count"] == expected_count
    assert meta["decimals_read_on_chain"] == expected_count - 1
    assert history_count(settings.warehouse_url) == expected_count

    # The next sync keeps the stored decimals (no chain read) and appends to the history.
    second = sync(settings)
    assert second.success and metadata(second)["decimals_read_on_chain"] == 0
    assert len(served(settings.warehouse_url)) == expected_count
    assert history_count(settings.warehouse_url) == 2 * expected_count
    assert served(settings.warehouse_url)[0]["synced_at"] > rows[0]["synced_at"]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("500", "HTTP 500"),
        ("503", "HTTP 503"),
        ("timeout", "timed out"),
        ("malformed", "not valid JSON"),
        ("429", "HTTP 429"),
    ],
)
def test_a_persistent_fault_fails_the_run_and_keeps_the_previous_list(
    settings: Settings, admin: str, mode: str, message: str
) -> None:
    assert sync(settings).success
    before = served(settings.warehouse_url)
    history = history_count(settings.warehouse_url)
    # A fault on every request: the first one that fails all its attempts ends the run.
    inject(admin, mode, 1_000, retry_after_seconds=0)
    result = sync(settings)
    assert not result.success
    text = failure_message(result)
    assert message in text and "failed after 3 attempts" in text and "previous price list stays served" in text
    assert served(settings.warehouse_url) == before
    assert history_count(settings.warehouse_url) == history


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", ["429", "500", "503", "timeout", "malformed"])
def test_transient_faults_are_retried_within_the_run(settings: Settings, admin: str, mode: str) -> None:
    inject(admin, mode, 2, retry_after_seconds=1)
    result = sync(settings)
    assert result.success
    assert metadata(result)["retries"] == 2
    assert len(served(settings.warehouse_url)) == metadata(result)["token_count"]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_long_retry_after_fails_at_once(settings: Settings, admin: str) -> None:
    assert sync(settings).success
    before = served(settings.warehouse_url)
    inject(admin, "429", 1, retry_after_seconds=600)
    result = sync(settings)
    assert not result.success
    assert "Retry-After asks for 600 s" in failure_message(result)
    assert "INTMAX_COINGECKO_MAX_RETRY_WAIT_SECONDS" in failure_message(result)
    assert served(settings.warehouse_url) == before


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_api_key_is_sent_and_never_logged(
    devnet: RunningDevnet, settings: Settings, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = "cg-demo-secret-5d1f0c"
    addresses = {name: devnet.manifest.contracts[name].address for name in DEVNET_TOKEN_COINS}
    standin = start_standin(addresses, log_path=tmp_path / "coingecko.log", api_key=key)
    try:
        keyed = settings.model_copy(update={"coingecko_url": standin.url})
        caplog.set_level(logging.DEBUG)
        without = sync(keyed)
        assert not without.success
        assert "HTTP 401" in failure_message(without)  # not retried: a 4xx is no transient fault
        with_key = sync(keyed.model_copy(update={"coingecko_api_key": SecretStr(key)}))
        assert with_key.success
        texts = [caplog.text, failure_message(without)]
        texts += [str(e.message) for r in (without, with_key) for e in r.all_events]
        assert not any(key in text for text in texts)
    finally:
        standin.stop()


def test_the_freshness_check_warns_when_the_list_is_old(settings: Settings) -> None:
    never = freshness(settings)
    assert not never.passed and never.severity == dg.AssetCheckSeverity.WARN
    assert never.description == "no price list has been synced yet"

    result = sync(settings)
    assert result.success
    (with_sync,) = result.get_asset_check_evaluations()
    assert with_sync.passed
    assert freshness(settings).passed

    # Hourly by default: two intervals are two hours.
    engine = make_engine(settings.warehouse_url)

    def synced(ago: timedelta) -> None:
        with engine.begin() as connection:
            connection.execute(update(token_prices).values(synced_at=datetime.now(UTC) - ago))

    synced(timedelta(hours=2, minutes=5))
    stale = freshness(settings)
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    synced(timedelta(hours=1, minutes=55))
    assert freshness(settings).passed
    # A 5-minute schedule tolerates 10 minutes.
    every_five = settings.model_copy(update={"token_prices_cron": "*/5 * * * *"})
    assert not freshness(every_five).passed
    synced(timedelta(minutes=9))
    assert freshness(every_five).passed
    engine.dispose()


def test_the_schedule_setting_is_validated_and_sets_the_freshness_limit() -> None:
    with pytest.raises(SettingsError, match="INTMAX_TOKEN_PRICES_CRON: minute field '61' is outside 0-59"):
        load_settings(token_prices_cron="61 * * * *")
    with pytest.raises(SettingsError, match="INTMAX_TOKEN_PRICES_CRON: must have 5 fields"):
        load_settings(token_prices_cron="@hourly")
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    assert longest_gap("0 * * * *", monday) == timedelta(hours=1)
    assert longest_gap("*/20 8-17 * * *", monday) == timedelta(hours=14, minutes=20)  # overnight
    assert longest_gap("0 0 * * 1", monday) == timedelta(days=7)
    assert longest_gap("30 6 1,15 * *", monday) == timedelta(days=14)  # Dec 1 to 15 (Jan 1 is past 32 days)
    assert longest_gap("0 0 1 1 *", monday) == timedelta(days=32)  # yearly: longer than the horizon


def test_a_new_deployment_gets_its_first_sync_at_once_then_the_sensor_idles(settings: Settings, admin: str) -> None:
    """Bug: a fresh deployment served an empty price list until the hourly schedule first fired."""
    base = _definitions(settings)
    defs = dg.Definitions(
        assets=base.assets, sensors=build_token_definitions(settings).sensors, resources=base.resources
    )
    sensor = defs.get_sensor_def("token_prices_first_sync_sensor")
    with dg.instance_for_test() as instance:

        def tick():  # type: ignore[no-untyped-def]
            context = dg.build_sensor_context(instance=instance, definitions=defs, resources=base.resources)
            return sensor.evaluate_tick(context)

        (request,) = tick().run_requests or []
        assert request.run_key == "token_prices:first-sync"
        # The first sync fails (CoinGecko down): retried after a backoff, under a new key.
        inject(admin, "500", 100)
        failed = instance.create_run_for_job(
            job_def=defs.resolve_implicit_global_asset_job_def(), status=dg.DagsterRunStatus.FAILURE, tags=request.tags
        )
        assert failed and not sync(settings).success
        waiting = tick()
        assert not waiting.run_requests and "retrying in" in (waiting.skip_message or "")
        inject(admin, "500", 0)
        assert sync(settings).success
        idle = tick()
        assert not idle.run_requests and "a price list exists" in (idle.skip_message or "")
