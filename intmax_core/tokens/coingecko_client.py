"""The CoinGecko API client of the token price sync (docs/protocol.md §12): /ping, /coins/list, /coins/markets.

Retries within a run, bounded by `max_attempts` per request: HTTP 429 (waiting what Retry-After
asks, or failing at once when that is longer than `max_retry_wait`, so the run ends and the next
scheduled one tries again), 5xx, timeouts and connection errors, and a 200 whose body is not JSON
(a response cut off mid-way is as transient as a reset connection). Other 4xx fail at once.
The API key travels only in its header: it is never logged and never part of an error, and
errors name the path, not the URL.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import SecretStr

log = logging.getLogger(__name__)

DEMO_KEY_HEADER = "x-cg-demo-api-key"
PRO_KEY_HEADER = "x-cg-pro-api-key"
# The paid API lives on its own host (docs/protocol.md §12) and takes the pro header.
PRO_API_HOST_PREFIX = "pro-api."
# The public API's limit on ids per /coins/markets request.
MAX_MARKET_IDS = 250
# Waits before retries 1, 2, 3 ... (doubling), each at most max_retry_wait.
BACKOFF_BASE_SECONDS = 1.0
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500
# Part of an error body kept in an error message.
MAX_BODY_CHARS = 200


class CoinGeckoError(RuntimeError):
    """The API did not give a usable answer (after the retries this error allows)."""


class _Retryable(Exception):
    def __init__(self, description: str, wait: float | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.wait = wait  # what the server asked for (Retry-After), if anything


@dataclass
class CoinGeckoStats:
    requests: int = 0
    retries: int = 0


class CoinGeckoClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: SecretStr | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        max_retry_wait: float = 120.0,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.max_retry_wait = max_retry_wait
        self.backoff_base = backoff_base
        self.stats = CoinGeckoStats()
        self._sleep = sleep
        headers = {"accept": "application/json"}
        if api_key is not None and api_key.get_secret_value():
            host = urlsplit(self.base_url).hostname or ""
            name = PRO_KEY_HEADER if host.startswith(PRO_API_HOST_PREFIX) else DEMO_KEY_HEADER
            headers[name] = api_key.get_secret_value()
        self._http = httpx.Client(timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CoinGeckoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> None:
        body = self._get("/ping")
        if not isinstance(body, dict) or "gecko_says" not in body:
            raise CoinGeckoError("GET /ping answered without gecko_says: the API is not healthy")

    def coins_list(self) -> list[dict[str, Any]]:
        body = self._get("/coins/list", {"include_platform": "true"})
        if not isinstance(body, list):
            raise CoinGeckoError("GET /coins/list did not answer a JSON array")
        return [coin for coin in body if isinstance(coin, dict)]

    def markets(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if len(ids) > MAX_MARKET_IDS:
            raise ValueError(f"at most {MAX_MARKET_IDS} ids per /coins/markets request")
        body = self._get("/coins/markets", {"vs_currency": "usd", "ids": ",".join(ids)})
        if not isinstance(body, list):
            raise CoinGeckoError("GET /coins/markets did not answer a JSON array")
        return [market for market in body if isinstance(market, dict)]

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(path, params)
            except _Retryable as failure:
                if attempt == self.max_attempts:
                    raise CoinGeckoError(f"GET {path} failed after {attempt} attempts: {failure.description}") from None
                wait = failure.wait if failure.wait is not None else self.backoff_base * 2 ** (attempt - 1)
                if failure.wait is not None and wait > self.max_retry_wait:
                    raise CoinGeckoError(
                        f"GET {path}: {failure.description}; Retry-After asks for {wait:.0f} s, more than "
                        f"INTMAX_COINGECKO_MAX_RETRY_WAIT_SECONDS ({self.max_retry_wait:g} s)"
                    ) from None
                wait = min(wait, self.max_retry_wait)
                log.warning("CoinGecko GET %s: %s; retry %d in %.1f s", path, failure.description, attempt, wait)
                self.stats.retries += 1
                self._sleep(wait)
        raise AssertionError("unreachable")

    def _attempt(self, path: str, params: dict[str, str] | None) -> Any:
        self.stats.requests += 1
        try:
            response = self._http.get(self.base_url + path, params=params)
        except httpx.TimeoutException:
            raise _Retryable("timed out") from None
        except httpx.TransportError as error:
            raise _Retryable(f"connection failed ({type(error).__name__})") from None
        status = response.status_code
        if status == HTTP_TOO_MANY_REQUESTS:
            raise _Retryable("HTTP 429 (rate limited)", _retry_after(response.headers.get("retry-after")))
        if status >= HTTP_SERVER_ERROR:
            raise _Retryable(f"HTTP {status}")
        if status != httpx.codes.OK:
            raise CoinGeckoError(f"GET {path}: HTTP {status}: {response.text[:MAX_BODY_CHARS]}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise _Retryable(f"the body is not valid JSON ({len(response.content)} bytes)") from None


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
