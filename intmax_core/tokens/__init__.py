"""Token data: the token map register (Liquidity token index -> metadata) and the CoinGecko price sync."""
