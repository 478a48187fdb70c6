"""The builder list cache validator: every 10 s, re-check the builders of the cached
`GET /v1/indexer/builders` answer and drop the ones that stopped being healthy.

It runs inside every API process (a task of the app's lifespan), because the cache it prunes is
the API's; a Redis lock lets one replica at a time do an iteration, so N replicas do not check the
builders N times. One iteration:
1. read the cached entry (absent: nothing to do);
2. judge its builders with the health checks of block_builder_health, writing their verdicts;
3. all active: leave the entry; none: delete it; some: rewrite it with the active ones only,
   keeping its remaining TTL, so the pick still expires when it would have.
The rewrite and the delete are compare-and-set (a Lua script): if the entry changed meanwhile (it
expired and another request stored a new pick), the new pick is left alone. A failed check of the
L2 balances (unknown) leaves the entry as it is. Iterations start every INTERVAL seconds, less
the time the previous one took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from datetime import UTC, datetime

import httpx

from intmax_api.cache import CachePolicy, cache_key, entry_body, replace_entry_body
from intmax_api.dependencies import ApiState
from intmax_api.redis_store import REDIS_ERRORS
from intmax_api.routers.indexer import BUILDER_LIST_KEY
from intmax_core.builders.balances import BalanceReadError
from intmax_core.builders.health import HealthPolicy
from intmax_core.builders.monitor import check_builders
from intmax_core.chain.rpc import RpcClient

log = logging.getLogger("intmax_api.builder_cache")

# Held while one replica validates; released at the end, and expiring by itself if that replica dies.
LOCK_SECONDS = 60
# KEYS[1] = entry; ARGV[1] = the value read; ARGV[2] = new value ("" = delete). PTTL keeps the expiry.
COMPARE_AND_REPLACE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 1 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
return 1
"""
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class BuilderCacheValidator:
    def __init__(self, state: ApiState) -> None:
        self.state = state
        settings = state.settings
        self.interval = settings.builder_cache_validation_seconds
        self.policy = HealthPolicy.from_settings(settings)
        self.multicall = settings.l2_multicall3_address
        self.l2 = RpcClient(settings.l2_rpc_urls, name="L2")
        prefix = state.redis.key_prefix
        self.key = cache_key(CachePolicy(0, fixed_key=BUILDER_LIST_KEY), "", [], prefix)
        self.lock_key = f"{prefix}lock:builder_cache_validator"

    async def run_forever(self) -> None:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            while True:
                started = time.monotonic()
                try:
                    outcome = await self.validate_once(http)
                    if outcome not in ("absent", "locked", "unchanged"):
                        log.info("builder cache: %s", outcome)
                except asyncio.CancelledError:
                    raise
                except REDIS_ERRORS as error:
                    self.state.redis.report_outage("builder cache validation", error)
                except Exception:
                    log.exception("builder cache validation failed; the cached list is left as it is")
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def validate_once(self, http: httpx.AsyncClient) -> str:
        """One iteration; returns what happened (absent, locked, unchanged, unknown, pruned n, deleted)."""
        redis = self.state.redis.client()
        token = secrets.token_hex(16)
        if not await redis.set(self.lock_key, token, nx=True, ex=LOCK_SECONDS):
            return "locked"
        try:
            value = await redis.get(self.key)
            if value is None:
                return "absent"
            cached = json.loads(entry_body(value))
            addresses = [entry["address"] for entry in cached]
            try:
                report = await check_builders(
                    self.state.engine, self.policy, self.l2, self.multicall, http, datetime.now(UTC), addresses
                )
            except BalanceReadError as error:
                log.warning("builder cache: %s; the cached list is left as it is", error)
                return "unknown"
            active = {verdict.address for verdict in report.verdicts if verdict.active}
            kept = [entry for entry in cached if entry["address"].lower() in active]
            if len(kept) == len(cached):
                return "unchanged"
            new_value = replace_entry_body(value, json.dumps(kept, separators=(",", ":")).encode()) if kept else b""
            if not await redis.eval(COMPARE_AND_REPLACE, 1, self.key, value, new_value):
                return "unchanged"  # the entry changed meanwhile: a newer pick is not ours to prune
            return f"pruned {len(cached) - len(kept)}" if kept else "deleted"
        finally:
            await redis.eval(RELEASE_LOCK, 1, self.lock_key, token)

    def close(self) -> None:
        self.l2.close()


@contextlib.asynccontextmanager
async def builder_cache_validation(state: ApiState):  # type: ignore[no-untyped-def]
    """Run the validator for the lifetime of the app (not at all without an L2 RPC to read balances)."""
    if not state.settings.l2_rpc_urls:
        log.warning("builder cache validation is off: no L2 RPC URL (INTMAX_L2_RPC_URLS)")
        yield None
        return
    validator = BuilderCacheValidator(state)
    task = asyncio.create_task(validator.run_forever(), name="builder-cache-validator")
    try:
        yield validator
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        validator.close()
