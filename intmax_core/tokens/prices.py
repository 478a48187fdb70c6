"""The token price sync: CoinGecko's Ethereum tokens (and ETH) with USD price, decimals and logo.

Follows the original token-metadata sync (`/coins/list`, then `/coins/markets` in batches of 250
ids after a `/ping`, a pause between batches; docs/protocol.md §12) with these differences:
- decimals stored for an id are kept; missing ones are read on L1 with one Multicall3 per batch,
  18 when a token answers nothing usable; an RPC failure of that read fails the run (unknown is
  not "18");
- logos are not re-hosted: the image is CoinGecko's URL, else the stored one, else the default;
- a failed run writes nothing: `token_prices` is replaced in one transaction only when every
  batch succeeded (so the previous list stays served), and `token_price_history` gets the same
  rows in that transaction.

The served order (`list_position`) is the original's: `/coins/list` order, then ETH.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select

from intmax_core.chain.rpc import RpcClient
from intmax_core.tokens.coingecko_client import MAX_MARKET_IDS, CoinGeckoClient, CoinGeckoError
from intmax_core.tokens.metadata import decode_decimals
from intmax_core.tokens.multicall import ContractCall, aggregate3, selector
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, token_price_history, token_prices
from intmax_core.warehouse.types import utc

log = logging.getLogger(__name__)

ETH_ID = "ethereum"
ETH_SYMBOL = "eth"
DEFAULT_DECIMALS = 18
DECIMALS = selector("decimals()")
ETHEREUM_PLATFORM = "ethereum"
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# Arbitrary constant key of the PostgreSQL advisory lock that serialises price list writes.
LOCK_KEY = 0x70_4B_E0_5C
# Rows per INSERT statement (well below both backends' bind-parameter limits).
INSERT_CHUNK = 1_000
MAX_ID_CHARS = 128
MAX_SYMBOL_CHARS = 64


class PriceSyncError(RuntimeError):
    pass


@dataclass(frozen=True)
class ListedCoin:
    coingecko_id: str
    symbol: str
    contract_address: str


@dataclass(frozen=True)
class TokenPrice:
    coingecko_id: str
    symbol: str
    contract_address: str
    decimals: int
    price_usd: float
    image: str
    list_position: int


@dataclass(frozen=True)
class PriceSyncReport:
    synced_at: datetime
    token_count: int
    priced_count: int
    batches: int
    decimals_read: int
    retries: int
    requests: int
    duration_seconds: float


def listed_coins(raw: Sequence[dict]) -> list[ListedCoin]:
    """Coins with an Ethereum address, in list order (first of a repeated id wins), then ETH."""
    coins: list[ListedCoin] = []
    seen: set[str] = set()
    for coin in raw:
        coin_id, symbol, platforms = coin.get("id"), coin.get("symbol"), coin.get("platforms")
        address = platforms.get(ETHEREUM_PLATFORM) if isinstance(platforms, dict) else None
        if not (isinstance(coin_id, str) and isinstance(symbol, str) and isinstance(address, str)):
            continue
        if not ADDRESS.match(address) or coin_id in seen or coin_id == ETH_ID:
            continue
        if not coin_id or len(coin_id) > MAX_ID_CHARS or len(symbol) > MAX_SYMBOL_CHARS:
            continue
        seen.add(coin_id)
        coins.append(ListedCoin(coin_id, symbol.lower(), address.lower()))
    coins.append(ListedCoin(ETH_ID, ETH_SYMBOL, ZERO_ADDRESS))
    return coins


def stored_metadata(connection: Connection) -> dict[str, tuple[int, str]]:
    """coingecko id -> (decimals, image) of the list being served."""
    rows = connection.execute(select(token_prices.c.coingecko_id, token_prices.c.decimals, token_prices.c.image))
    return {row.coingecko_id: (row.decimals, row.image) for row in rows}


def read_decimals(client: RpcClient, multicall: str, addresses: Sequence[str]) -> dict[str, int]:
    """decimals() of each address; 18 where the token answers nothing usable. Raises on an RPC failure."""
    results = aggregate3(client, multicall, [ContractCall(address, DECIMALS) for address in addresses])
    decimals: dict[str, int] = {}
    for address, result in zip(addresses, results, strict=True):
        value, _ = decode_decimals(result)
        decimals[address] = DEFAULT_DECIMALS if value is None else value
    return decimals


def _price(market: dict | None) -> float:
    value = market.get("current_price") if market else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return 0.0  # null, missing, NaN or negative: unknown, served as 0 like the original
    return float(value)


def _image(market: dict | None, stored: str | None, default: str) -> str:
    image = market.get("image") if market else None
    if isinstance(image, str) and image.startswith(("https://", "http://")):
        return image
    return stored or default


def _batches(coins: list[ListedCoin]) -> Iterator[list[ListedCoin]]:
    for start in range(0, len(coins), MAX_MARKET_IDS):
        yield coins[start : start + MAX_MARKET_IDS]


def fetch_price_list(
    coingecko: CoinGeckoClient,
    l1: RpcClient,
    multicall: str,
    stored: dict[str, tuple[int, str]],
    *,
    default_image: str,
    batch_pause_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[TokenPrice], int, int]:
    """The whole new list, (list, batches, decimals read on chain). Raises on any failure."""
    coins = listed_coins(coingecko.coins_list())
    if len(coins) == 1:  # only the ETH entry the sync adds: a degraded answer must not replace the list
        raise CoinGeckoError("GET /coins/list listed no coin with an Ethereum address")
    prices: list[TokenPrice] = []
    batches = decimals_read = 0
    for batch in _batches(coins):
        if batches:
            sleep(batch_pause_seconds)  # the public API is rate-limited (docs/protocol.md §12)
        batches += 1
        coingecko.ping()
        markets = {m.get("id"): m for m in coingecko.markets([coin.coingecko_id for coin in batch])}
        missing = sorted(
            {c.contract_address for c in batch if c.coingecko_id not in stored and c.coingecko_id != ETH_ID}
        )
        chain_decimals = read_decimals(l1, multicall, missing) if missing else {}
        decimals_read += len(missing)
        for coin in batch:
            stored_decimals, stored_image = stored.get(coin.coingecko_id, (None, None))
            if coin.coingecko_id == ETH_ID:
                decimals = DEFAULT_DECIMALS
            elif stored_decimals is not None:
                decimals = stored_decimals
            else:
                decimals = chain_decimals[coin.contract_address]
            market = markets.get(coin.coingecko_id)
            prices.append(
                TokenPrice(
                    coingecko_id=coin.coingecko_id,
                    symbol=coin.symbol,
                    contract_address=coin.contract_address,
                    decimals=decimals,
                    price_usd=_price(market),
                    image=_image(market, stored_image, default_image),
                    list_position=len(prices),
                )
            )
    return prices, batches, decimals_read


def replace_price_list(connection: Connection, prices: Sequence[TokenPrice], synced_at: datetime) -> None:
    """Replace token_prices and append the history (call inside one transaction)."""
    if connection.dialect.name == "postgresql":
        # Two syncs at once would both delete and then insert the same ids; the second waits.
        connection.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    connection.execute(delete(token_prices))
    rows = [{**price.__dict__, "synced_at": synced_at} for price in prices]
    history = [
        {key: row[key] for key in ("synced_at", "coingecko_id", "symbol", "contract_address", "price_usd")}
        for row in rows
    ]
    for start in range(0, len(rows), INSERT_CHUNK):
        connection.execute(insert(token_prices), rows[start : start + INSERT_CHUNK])
        connection.execute(insert(token_price_history), history[start : start + INSERT_CHUNK])


def sync_token_prices(
    engine: Engine,
    coingecko: CoinGeckoClient,
    l1: RpcClient,
    multicall: str,
    *,
    default_image: str,
    batch_pause_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> PriceSyncReport:
    """Fetch the whole list, then replace the stored one in one transaction; nothing is written on failure."""
    started = time.monotonic()
    synced_at = datetime.now(UTC)
    with engine.connect() as connection:
        stored = stored_metadata(connection)
    try:
        prices, batches, decimals_read = fetch_price_list(
            coingecko,
            l1,
            multicall.lower(),
            stored,
            default_image=default_image,
            batch_pause_seconds=batch_pause_seconds,
            sleep=sleep,
        )
    except CoinGeckoError as error:
        raise PriceSyncError(f"CoinGecko: {error}; the previous price list stays served") from None
    with engine.begin() as connection:
        replace_price_list(connection, prices, synced_at)
    return PriceSyncReport(
        synced_at=synced_at,
        token_count=len(prices),
        priced_count=sum(1 for p in prices if p.price_usd > 0),
        batches=batches,
        decimals_read=decimals_read,
        retries=coingecko.stats.retries,
        requests=coingecko.stats.requests,
        duration_seconds=time.monotonic() - started,
    )


def newest_sync(connection: Connection) -> datetime | None:
    """When the served list was synced (None: never)."""
    return utc(connection.execute(select(func.max(token_prices.c.synced_at))).scalar())
