"""The devnet CoinGecko stand-in, over real HTTP against its own process: shapes, limits, faults, prices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from intmax_core.config import SettingsError, load_settings
from intmax_core.devnet_manifest import CONFIGURED_CONTRACTS, ChainEntry, ContractEntry, DevnetManifest, ServiceEntry
from intmax_core.devnet_manifest import write_manifest as write_devnet_manifest
from intmax_devnet import devnet
from intmax_devnet.anvil import free_port, process_group_alive
from intmax_devnet.coingecko import MAX_MARKET_IDS, PING_MESSAGE, CoinGeckoStandIn, start_standin
from intmax_devnet.coingecko_catalogue import (
    GENERATED_COIN_COUNT,
    PRICE_BUCKET_SECONDS,
    price_bucket,
    price_usd,
)

TOKENS = {
    "itx": "0x" + "11" * 20,
    "wbtc": "0x" + "22" * 20,
    "usdc": "0x" + "33" * 20,
}
PINNED_NOW = 1_800_000_000  # any fixed moment
CLIENT_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoinGeckoStandIn]:
    server = start_standin(TOKENS, log_path=tmp_path_factory.mktemp("coingecko") / "coingecko.log")
    yield server
    server.stop()


@pytest.fixture
def api(standin: CoinGeckoStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.url, timeout=CLIENT_TIMEOUT) as client:
        yield client
    # Leave no pending fault or pinned clock to the next test.
    httpx.post(f"{admin_url(standin)}/__faults", json={"mode": "500", "count": 0})
    httpx.post(f"{admin_url(standin)}/__clock", json={"now": None})


def admin_url(standin: CoinGeckoStandIn) -> str:
    return f"http://127.0.0.1:{standin.port}"


def markets(api: httpx.Client, ids: list[str]) -> httpx.Response:
    return api.get("/coins/markets", params={"vs_currency": "usd", "ids": ",".join(ids)})


def coin_ids(api: httpx.Client) -> list[str]:
    return [coin["id"] for coin in api.get("/coins/list").json()]


def test_ping(api: httpx.Client) -> None:
    assert api.get("/ping").json() == {"gecko_says": PING_MESSAGE}


def test_coins_list_has_the_devnet_tokens_at_their_addresses(api: httpx.Client) -> None:
    coins = api.get("/coins/list", params={"include_platform": "true"}).json()
    by_id = {coin["id"]: coin for coin in coins}
    assert len(coins) == len(by_id) == GENERATED_COIN_COUNT + 4
    assert by_id["ethereum"] == {"id": "ethereum", "symbol": "eth", "name": "Ethereum", "platforms": {}}
    for coin_id, key in (("intmax", "itx"), ("wrapped-bitcoin", "wbtc"), ("usd-coin", "usdc")):
        assert by_id[coin_id]["platforms"] == {"ethereum": TOKENS[key]}
    # Some coins are not on Ethereum at all: a sync has to filter on platforms.ethereum.
    on_ethereum = [coin for coin in coins if "ethereum" in coin["platforms"]]
    assert MAX_MARKET_IDS < len(on_ethereum) < len(coins) - 1
    # Without include_platform the entries carry no platforms, as on the real API.
    assert set(api.get("/coins/list").json()[1]) == {"id", "symbol", "name"}


def test_markets_shape_and_unknown_ids(api: httpx.Client) -> None:
    response = markets(api, ["ethereum", "usd-coin", "no-such-coin"])
    assert response.status_code == 200
    rows = response.json()
    assert [row["id"] for row in rows] == ["ethereum", "usd-coin"]  # unknown ids are left out
    for row in rows:
        assert {"id", "symbol", "name", "image", "current_price"} <= set(row)
        assert isinstance(row["current_price"], float) and row["current_price"] > 0
        assert row["image"].startswith("https://")
    assert api.get("/coins/markets", params={"ids": "ethereum"}).status_code == 400  # vs_currency required


def test_markets_enforces_the_250_id_limit(api: httpx.Client) -> None:
    ids = coin_ids(api)
    full = markets(api, ids[:MAX_MARKET_IDS])
    assert full.status_code == 200 and len(full.json()) == MAX_MARKET_IDS
    over = markets(api, ids[: MAX_MARKET_IDS + 1])
    assert over.status_code == 400
    assert str(MAX_MARKET_IDS) in over.json()["status"]["error_message"]
    # Batches of 250 cover the whole catalogue.
    batched = [
        row["id"]
        for start in range(0, len(ids), MAX_MARKET_IDS)
        for row in markets(api, ids[start : start + MAX_MARKET_IDS]).json()
    ]
    assert batched == ids


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_faults_hit_exactly_the_next_n_requests(
    api: httpx.Client, standin: CoinGeckoStandIn, status: int
) -> None:
    armed = httpx.post(f"{admin_url(standin)}/__faults", json={"mode": str(status), "count": 2})
    assert armed.status_code == 200
    first, second = api.get("/ping"), markets(api, ["ethereum"])
    assert first.status_code == second.status_code == status
    if status == 429:
        assert first.headers["Retry-After"]
    assert api.get("/ping").status_code == 200


def test_malformed_fault_returns_unparseable_json(api: httpx.Client, standin: CoinGeckoStandIn) -> None:
    httpx.post(f"{admin_url(standin)}/__faults", json={"mode": "malformed", "count": 1})
    response = markets(api, ["ethereum", "intmax"])
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert markets(api, ["ethereum"]).json()[0]["id"] == "ethereum"


def test_timeout_fault_outlasts_the_client_timeout(api: httpx.Client, standin: CoinGeckoStandIn) -> None:
    httpx.post(f"{admin_url(standin)}/__faults", json={"mode": "timeout", "count": 1, "delay_seconds": 2})
    with pytest.raises(httpx.ReadTimeout):
        api.get("/ping", timeout=0.3)
    assert api.get("/ping").status_code == 200  # the sleeping request blocks nobody else


def test_bad_fault_request_is_refused(standin: CoinGeckoStandIn) -> None:
    assert httpx.post(f"{admin_url(standin)}/__faults", json={"mode": "418", "count": 1}).status_code == 400


def test_prices_are_fixed_within_a_bucket_and_move_across_buckets(api: httpx.Client, standin: CoinGeckoStandIn) -> None:
    ids = coin_ids(api)[:MAX_MARKET_IDS]

    def prices_at(now: float) -> dict[str, float]:
        httpx.post(f"{admin_url(standin)}/__clock", json={"now": now})
        return {row["id"]: row["current_price"] for row in markets(api, ids).json()}

    start = PINNED_NOW - PINNED_NOW % PRICE_BUCKET_SECONDS
    first = prices_at(start)
    assert prices_at(start + PRICE_BUCKET_SECONDS - 1) == first  # same bucket
    assert first == {coin_id: price_usd(coin_id, price_bucket(start)) for coin_id in ids}
    later = prices_at(start + PRICE_BUCKET_SECONDS)
    moved = sum(later[coin_id] != first[coin_id] for coin_id in ids)
    assert moved > len(ids) * 0.9
    # Prices stay near their base: a stablecoin stays near a dollar.
    assert 0.85 < first["usd-coin"] < 1.15


def test_api_key_is_required_when_configured(tmp_path: Path) -> None:
    server = start_standin(TOKENS, api_key="k-secret")
    try:
        assert httpx.get(f"{server.url}/ping").status_code == 401
        assert httpx.get(f"{server.url}/ping", headers={"x-cg-demo-api-key": "k-secret"}).status_code == 200
        assert httpx.get(f"{server.url}/ping", headers={"x-cg-pro-api-key": "k-secret"}).status_code == 200
    finally:
        server.stop()


def _manifest(coingecko: ServiceEntry | None) -> DevnetManifest:
    chain = ChainEntry("l1", 31337, "http://127.0.0.1:1", 1, "l1.log")
    contracts = {key: ContractEntry("l1", key, "0x" + "44" * 20, 1) for key in CONFIGURED_CONTRACTS}
    return DevnetManifest(
        l1=chain,
        l2=replace(chain, name="l2", chain_id=31338),
        contracts=contracts,
        accounts={},
        owner_mnemonic="test test test test test test test test test test test junk",
        mock_messenger_private_key="0x" + "55" * 32,
        prover_address="0x" + "66" * 20,
        coingecko=coingecko,
    )


def test_manifest_url_reaches_settings(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9999/api/v3"
    manifest = _manifest(ServiceEntry("coingecko", url, 1, "coingecko.log"))
    write_devnet_manifest(tmp_path, manifest)
    assert load_settings(data_dir=tmp_path).coingecko_url == url
    assert DevnetManifest.from_json(manifest.to_json()) == manifest
    # An explicit variable wins; a manifest from before the stand-in configures none.
    assert load_settings(data_dir=tmp_path, coingecko_url="https://api.coingecko.com/api/v3/").coingecko_url == (
        "https://api.coingecko.com/api/v3"
    )
    write_devnet_manifest(tmp_path, _manifest(None))
    assert load_settings(data_dir=tmp_path).coingecko_url is None


def test_coingecko_settings_are_validated_and_the_key_is_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path, coingecko_url="ftp://user:key123@host")
    assert "INTMAX_COINGECKO_URL" in str(caught.value) and "key123" not in str(caught.value)
    settings = load_settings(data_dir=tmp_path, coingecko_api_key="cg-key-1")
    assert "cg-key-1" not in repr(settings) and settings.coingecko_api_key.get_secret_value() == "cg-key-1"


def test_devnet_up_starts_the_standin_and_down_stops_it(tmp_path: Path) -> None:
    manifest = devnet.up(tmp_path, l1_port=free_port(), l2_port=free_port())
    try:
        assert manifest.coingecko is not None
        service = manifest.coingecko
        assert process_group_alive(service.pid)
        assert Path(service.log_path).parent == Path(manifest.l1.log_path).parent
        coins = httpx.get(f"{service.url}/coins/list", params={"include_platform": "true"}).json()
        by_id = {coin["id"]: coin for coin in coins}
        assert by_id["intmax"]["platforms"]["ethereum"] == manifest.contracts["itx"].address
        assert by_id["usd-coin"]["platforms"]["ethereum"] == manifest.contracts["usdc"].address
        assert load_settings(data_dir=tmp_path).coingecko_url == service.url
        running, report = devnet.status(tmp_path)
        assert running and f"coingecko stand-in: up, pid {service.pid}" in report
    finally:
        stopped = devnet.down(tmp_path)
    assert sorted(stopped) == sorted([manifest.l1.pid, manifest.l2.pid])  # chains only, as the CLI reports
    assert not process_group_alive(service.pid)
