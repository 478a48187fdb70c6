"""The per-client rate limit (docs/protocol.md §4), counted in Redis so that API replicas share it.

Fixed windows of INTMAX_RATE_LIMIT_WINDOW_SECONDS per client address (intmax_api.client_address):
one Lua script increments the client's counter and starts the window's expiry on the first hit,
in one round trip. Every answer carries the IETF draft-7 headers (`RateLimit: limit=1000,
remaining=999, reset=600` and `RateLimit-Policy: 1000;w=600`); past the limit the answer is 429
`{"code":"TOO_MANY_REQUESTS","message":"Rate limit exceeded"}` with `Retry-After` (seconds left in
the window). A request whose `X-API-KEY` equals INTMAX_API_KEY (compared in constant time) is not
counted and gets no headers. CORS preflights (OPTIONS) are not counted either, nor are requests to
`exempt_paths` (GET /metrics: a scraper must never be refused).

If Redis fails (down, hung past its socket timeout), the request is let through without
headers and the outage is logged once a minute: an unavailable limiter must not take the API
down with it (fail open). Never a 500.
"""

from __future__ import annotations

import hmac
import math

from pydantic import SecretStr
from redis.exceptions import NoScriptError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intmax_api.client_address import IpNetwork, client_address
from intmax_api.errors import envelope
from intmax_api.redis_store import REDIS_ERRORS, RedisStore

API_KEY_HEADER = b"x-api-key"
FORWARDED_FOR_HEADER = b"x-forwarded-for"
# INCR, and on the window's first hit its expiry; returns the count and the milliseconds left.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        store: RedisStore,
        limit: int,
        window_seconds: int,
        api_key: SecretStr | None,
        trusted_proxies: tuple[IpNetwork, ...],
        exempt_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.store = store
        self.limit = limit
        self.window_ms = window_seconds * 1000
        self.policy = f"{limit};w={window_seconds}"
        self.api_key = api_key.get_secret_value().encode() if api_key and api_key.get_secret_value() else None
        self.trusted_proxies = trusted_proxies
        self.exempt_paths = exempt_paths
        self._script_sha: str | None = None

    def _exempt(self, headers: dict[bytes, bytes]) -> bool:
        given = headers.get(API_KEY_HEADER)
        return self.api_key is not None and given is not None and hmac.compare_digest(given, self.api_key)

    async def _hit(self, client: str) -> tuple[int, int]:
        redis = self.store.client()
        key = f"{self.store.key_prefix}ratelimit:{client}"
        if self._script_sha is None:
            self._script_sha = await redis.script_load(_HIT_SCRIPT)
        try:
            count, ttl_ms = await redis.evalsha(self._script_sha, 1, key, self.window_ms)
        except NoScriptError:  # Redis restarted (or was flushed) since the script was loaded
            self._script_sha = await redis.script_load(_HIT_SCRIPT)
            count, ttl_ms = await redis.evalsha(self._script_sha, 1, key, self.window_ms)
        return int(count), int(ttl_ms)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self._exempt(headers):
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        forwarded = headers.get(FORWARDED_FOR_HEADER)
        client = client_address(
            peer[0] if peer else None, forwarded.decode("latin-1") if forwarded else None, self.trusted_proxies
        )
        try:
            count, ttl_ms = await self._hit(client)
        except REDIS_ERRORS as error:
            self.store.report_outage("rate limit", error)
            await self.app(scope, receive, send)
            return
        reset = max(1, math.ceil(ttl_ms / 1000))
        limit_headers = {
            "RateLimit": f"limit={self.limit}, remaining={max(0, self.limit - count)}, reset={reset}",
            "RateLimit-Policy": self.policy,
        }
        if count > self.limit:
            response = envelope(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
            response.headers.update(limit_headers | {"Retry-After": str(reset)})
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in limit_headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
