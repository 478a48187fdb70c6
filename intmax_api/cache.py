"""The response cache of GET routes, in Redis (shared by API replicas), with optional weak ETags.

Interface - mark an endpoint with `@cached(...)` under a router built with `CachedRoute`:

    router = APIRouter(route_class=CachedRoute)

    @router.get("/token-maps/list")
    @cached(LIST_TTL_SECONDS, query_keys=("perPage", "cursor", "tokenIndexes"), etag=True)
    async def token_maps(...) -> ...: ...

    @router.get("/indexer/builders")
    @cached(120, fixed_key="block_builder_indexer_list")  # every client shares one entry
    async def builders(...) -> ...: ...

`cached(ttl_seconds, *, query_keys=(), fixed_key=None, etag=False)`:
- only GET responses with a 2xx status are stored (an error, raised or returned, never is), as
  status + the route's own headers + body, for `ttl_seconds`;
- every response of the route carries `X-Cache: HIT` or `X-Cache: MISS`;
- the key is `fixed_key` when given; otherwise the path plus, for each of `query_keys` (in the
  order given, which callers keep sorted by name), every value the request carries, in request
  order. The parts are JSON-encoded before hashing, so no two different inputs share a key
  (`tokenIndexes=1&tokenIndexes=2` and `tokenIndexes=1&tokenIndexes=3` differ; a value holding a
  separator cannot imitate another key);
- a request carrying any other query key (except `pretty`, applied outside the cache) neither reads
  nor writes the cache: the route validates it (usually a 400) as if there were no cache;
- `etag=True` adds a weak `ETag` (a hash of the body; weak because gzip and `?pretty` change the
  bytes, not the meaning) and answers `If-None-Match` with 304 and no body;
- Redis failures are logged (once a minute) and the route is served uncached: never a 500;
- an endpoint whose answer must not outlive a moment (a tx-map entry's expiry) sets the header
  `CACHE_TTL_MS_HEADER` on its response: the entry then lives at most that many milliseconds (none
  if it is not positive); the header itself is never sent;
- under a `fixed_key`, the first answer stored wins: a request that missed at the same moment as
  another answers what that one stored (`entry_body`/`replace_entry_body` let a validator rewrite
  the body of such an entry);
- `invalidate(request, path)` drops the entry of a path (a write that changes what it answers).

Health is never cached (its router does not use `cached`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from intmax_api.pretty import PRETTY_QUERY_KEY
from intmax_api.redis_store import REDIS_ERRORS, RedisStore

LIST_TTL_SECONDS = 30
DETAIL_TTL_SECONDS = 60
CACHE_HEADER = "X-Cache"
CACHE_TTL_MS_HEADER = "x-intmax-cache-ttl-ms"
_POLICY_ATTRIBUTE = "__intmax_cache_policy__"
# Headers that describe one transfer, not the content: never stored with an entry.
_TRANSFER_HEADERS = frozenset({"content-length", "set-cookie", "date", "server", "x-request-id"})

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CachePolicy:
    ttl_seconds: int
    query_keys: tuple[str, ...] = ()
    fixed_key: str | None = None
    etag: bool = False


def cached(
    ttl_seconds: int, *, query_keys: tuple[str, ...] = (), fixed_key: str | None = None, etag: bool = False
) -> Callable[[F], F]:
    """Mark an endpoint as cached; `CachedRoute` does the work. The endpoint itself is unchanged."""
    policy = CachePolicy(ttl_seconds, tuple(query_keys), fixed_key, etag)

    def mark(endpoint: F) -> F:
        setattr(endpoint, _POLICY_ATTRIBUTE, policy)
        return endpoint

    return mark


def cache_key(policy: CachePolicy, path: str, query: list[tuple[str, str]], prefix: str = "") -> str:
    """`prefix` is the store's namespace (RedisStore.key_prefix)."""
    if policy.fixed_key:
        return f"{prefix}cache:{policy.fixed_key}"
    parts = [[key, [value for name, value in query if name == key]] for key in policy.query_keys]
    encoded = json.dumps([path, [part for part in parts if part[1]]], separators=(",", ":"), ensure_ascii=True)
    return f"{prefix}cache:{path}:{hashlib.sha256(encoded.encode()).hexdigest()}"


def weak_etag(body: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()[:18]).decode()
    return f'W/"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): `*`, or any listed tag with the same opaque part."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def _pack(response: Response) -> bytes:
    headers = [
        [k.decode("latin-1"), v.decode("latin-1")]
        for k, v in response.raw_headers
        if k.decode("latin-1").lower() not in _TRANSFER_HEADERS
    ]
    meta = orjson.dumps({"status": response.status_code, "headers": headers})
    return len(meta).to_bytes(4, "big") + meta + bytes(response.body)


def _unpack(value: bytes) -> Response:
    size = int.from_bytes(value[:4], "big")
    meta = orjson.loads(value[4 : 4 + size])
    response = Response(content=value[4 + size :], status_code=meta["status"])
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["headers"]]
    response.raw_headers.append((b"content-length", str(len(response.body)).encode()))
    return response


def entry_body(value: bytes) -> bytes:
    """The response body of a stored entry."""
    size = int.from_bytes(value[:4], "big")
    return value[4 + size :]


def replace_entry_body(value: bytes, body: bytes) -> bytes:
    """The same stored entry (status, headers) with another body (not for `etag` routes: the tag would be stale)."""
    size = int.from_bytes(value[:4], "big")
    return value[: 4 + size] + body


def _storable(response: Response) -> bool:
    return 200 <= response.status_code < 300 and isinstance(getattr(response, "body", None), bytes)


class CachedRoute(APIRoute):
    """An APIRoute that applies the endpoint's `cached(...)` policy around FastAPI's own handler
    (validation, dependencies and the endpoint run only on a miss)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        policy: CachePolicy | None = getattr(self.endpoint, _POLICY_ATTRIBUTE, None)
        if policy is None:
            return handler
        allowed = {*policy.query_keys, PRETTY_QUERY_KEY}

        async def cached_handler(request: Request) -> Response:
            store: RedisStore = request.app.state.intmax.redis
            query = request.query_params.multi_items()
            usable = request.method == "GET" and all(key in allowed for key, _ in query)
            key = cache_key(policy, request.url.path, query, store.key_prefix) if usable else None
            response: Response | None = None
            if key is not None:
                try:
                    hit = await store.client().get(key)
                except REDIS_ERRORS as error:
                    store.report_outage("response cache", error)
                    hit = None
                if hit is not None:
                    response = _unpack(hit)
                    response.headers[CACHE_HEADER] = "HIT"
            if response is None:
                response = await handler(request)
                if policy.etag and _storable(response):
                    response.headers["ETag"] = weak_etag(bytes(response.body))
                ttl_ms = policy.ttl_seconds * 1000
                if CACHE_TTL_MS_HEADER in response.headers:
                    ttl_ms = min(ttl_ms, int(response.headers[CACHE_TTL_MS_HEADER]))
                    del response.headers[CACHE_TTL_MS_HEADER]
                response.headers[CACHE_HEADER] = "MISS"
                if key is not None and _storable(response) and ttl_ms > 0:
                    try:
                        response = await _store(store, key, policy, response, ttl_ms)
                    except REDIS_ERRORS as error:
                        store.report_outage("response cache", error)
            etag = response.headers.get("etag")
            if policy.etag and etag and etag_matches(request.headers.get("if-none-match"), etag):
                return Response(status_code=304, headers={"ETag": etag, CACHE_HEADER: response.headers[CACHE_HEADER]})
            return response

        return cached_handler


async def _store(store: RedisStore, key: str, policy: CachePolicy, response: Response, ttl_ms: int) -> Response:
    """Store the answer; under a fixed key, only if no other request stored one meanwhile, and then
    answer what that request stored: one shared key means one answer for everybody (two replicas
    missing at once would otherwise hand out two different random builder picks)."""
    client = store.client()
    stored = await client.set(key, _pack(response), px=ttl_ms, nx=policy.fixed_key is not None)
    if stored or policy.fixed_key is None:
        return response
    winner = await client.get(key)
    if winner is None:  # expired or pruned in between: ours is as good an answer as any
        return response
    shared = _unpack(winner)
    shared.headers[CACHE_HEADER] = "HIT"
    return shared


async def invalidate(request: Request, path: str, policy: CachePolicy | None = None) -> None:
    """Drop the cached answer of `path` (without query) so that the next GET reads the warehouse."""
    store: RedisStore = request.app.state.intmax.redis
    key = cache_key(policy or CachePolicy(0), path, [], store.key_prefix)
    try:
        await store.client().delete(key)
    except REDIS_ERRORS as error:
        store.report_outage("response cache", error)
