"""The coins and prices the devnet CoinGecko stand-in serves: deterministic, no randomness.

The devnet tokens get the ids the real API uses for them, so a price sync written against the
devnet works unchanged against CoinGecko. Several hundred generated coins come with them, so a
sync must batch its `/coins/markets` requests (at most 250 ids each) as it would in production.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# The real CoinGecko ids, symbols and names of the devnet tokens (ITX is INTMAX's token).
ETH_ID = "ethereum"
DEVNET_TOKEN_COINS: dict[str, tuple[str, str, str]] = {
    # manifest contract key -> (id, symbol, name)
    "itx": ("intmax", "itx", "INTMAX"),
    "wbtc": ("wrapped-bitcoin", "wbtc", "Wrapped Bitcoin"),
    "usdc": ("usd-coin", "usdc", "USDC"),
}
# Rough magnitudes of the real prices, so the devnet numbers look plausible.
BASE_PRICES_USD: dict[str, float] = {
    ETH_ID: 3_000.0,
    "intmax": 0.5,
    "wrapped-bitcoin": 60_000.0,
    "usd-coin": 1.0,
}
# More than one 250-id batch, and not a multiple of it, so the last batch is partial.
GENERATED_COIN_COUNT = 600
# Every third generated coin lives only on another chain: a sync must drop coins without
# `platforms.ethereum`, as it must for the real list.
NON_ETHEREUM_EVERY = 3
OTHER_PLATFORM = "polygon-pos"
# Prices move once per bucket: within one bucket every request sees the same price.
PRICE_BUCKET_SECONDS = 60
# How far a price moves around its base from bucket to bucket (±10 %).
PRICE_SWING = 0.10
IMAGE_URL = "https://coin-images.coingecko.com/coins/images/{number}/large/{id}.png"


@dataclass(frozen=True)
class Coin:
    id: str
    symbol: str
    name: str
    platforms: dict[str, str] = field(default_factory=dict)

    def list_entry(self, include_platform: bool) -> dict[str, object]:
        entry: dict[str, object] = {"id": self.id, "symbol": self.symbol, "name": self.name}
        if include_platform:
            entry["platforms"] = dict(self.platforms)
        return entry


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _generated_address(index: int) -> str:
    return "0x" + hashlib.sha256(f"devnet-coin-{index}".encode()).hexdigest()[:40]


def build_catalogue(token_addresses: dict[str, str]) -> list[Coin]:
    """ETH, the devnet tokens at their manifest addresses (keys as in DEVNET_TOKEN_COINS), then generated coins.

    ETH has no `platforms.ethereum`, as on the real API (it is the chain's native coin)."""
    coins = [Coin(ETH_ID, "eth", "Ethereum")]
    for key, (coin_id, symbol, name) in DEVNET_TOKEN_COINS.items():
        platforms = {"ethereum": token_addresses[key].lower()} if key in token_addresses else {}
        coins.append(Coin(coin_id, symbol, name, platforms))
    for index in range(1, GENERATED_COIN_COUNT + 1):
        if index % NON_ETHEREUM_EVERY == 0:
            platforms = {OTHER_PLATFORM: _generated_address(index)}
        else:
            platforms = {"ethereum": _generated_address(index)}
        coins.append(Coin(f"devnet-coin-{index:04d}", f"dc{index:04d}", f"Devnet Coin {index}", platforms))
    return coins


def price_bucket(now: float) -> int:
    return int(now // PRICE_BUCKET_SECONDS)


def price_usd(coin_id: str, bucket: int) -> float:
    """A price that is a pure function of the coin and the time bucket."""
    base = BASE_PRICES_USD.get(coin_id)
    if base is None:
        # Generated coins span 0.0001 .. ~100 USD.
        base = 10 ** ((_digest(coin_id) % 6_000) / 1_000 - 4)
    swing = (_digest(coin_id, bucket) % 20_001) / 10_000 - 1  # in [-1, 1]
    return round(base * (1 + PRICE_SWING * swing), 8)


def image_url(coin_id: str) -> str:
    return IMAGE_URL.format(number=_digest(coin_id) % 40_000, id=coin_id)
