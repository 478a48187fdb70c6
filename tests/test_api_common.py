"""What every route shares: rate limit, CORS, security headers, timeout, ?pretty, the response cache
piece itself, offline docs, and Redis failures (real Redis, real SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from intmax_api.app import create_app
from intmax_api.cache import CachedRoute, CachePolicy, cache_key, cached
from intmax_api.client_address import client_address, parse_networks
from intmax_api.security_headers import SECURITY_HEADERS
from intmax_core.config import SettingsError, load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import normalize_url
from intmax_devnet.anvil import free_port

API_KEY = "bench-key-123"
CHEAP_PATH = "/docs/init.js"  # served by the app, touches neither warehouse nor cache
TIMEOUT_SECONDS = 1.0
# Generous: the assertion is that the answer does not wait for the blocked query (which would take
# the lock holder's whole transaction), not a tight bound on a busy two-core machine.
TIMEOUT_MARGIN_SECONDS = 3.0


def _app(tmp_path: Path, redis_url: str | None, **settings: object) -> FastAPI:
    settings.setdefault("database_url", f"sqlite:///{tmp_path / 'w.db'}")
    return create_app(load_settings(redis_url=redis_url, **settings))


def _client(app: FastAPI, peer: str = "192.0.2.10") -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(peer, 40000))


# --- rate limit --------------------------------------------------------------------------------------
def test_rate_limit_headers_429_and_replicas_share_the_count(tmp_path: Path, redis_url: str) -> None:
    # A generous Redis timeout: on CI's busy cores a round trip once took over the default 0.5 s, and
    # the limiter rightly stepped aside (no count, no headers), which is not what this test is about.
    settings = {"rate_limit": 3, "rate_limit_window_seconds": 600, "redis_timeout_seconds": 5.0}
    replica_a, replica_b = (
        _client(_app(tmp_path, redis_url, **settings)),
        _client(_app(tmp_path, redis_url, **settings)),
    )
    remaining = []
    for replica in (replica_a, replica_b, replica_a):
        response = replica.get(CHEAP_PATH)
        assert response.status_code == 200
        assert response.headers["ratelimit-policy"] == "3;w=600"
        remaining.append(re.fullmatch(r"limit=3, remaining=(\d), reset=(\d+)", response.headers["ratelimit"])[1])
    assert remaining == ["2", "1", "0"]
    over = replica_b.get(CHEAP_PATH)
    assert over.status_code == 429
    assert over.json() == {"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}
    assert 1 <= int(over.headers["retry-after"]) <= 600
    assert over.headers["ratelimit"].startswith("limit=3, remaining=0, reset=")
    assert over.headers["x-request-id"] and over.headers["x-frame-options"] == "DENY"
    # Another client has its own window.
    assert _client(_app(tmp_path, redis_url, **settings), peer="192.0.2.11").get(CHEAP_PATH).status_code == 200


def test_the_api_key_skips_the_limit_and_a_wrong_one_does_not(tmp_path: Path, redis_url: str) -> None:
    client = _client(_app(tmp_path, redis_url, rate_limit=1, api_key=API_KEY))
    assert client.get(CHEAP_PATH).status_code == 200
    assert client.get(CHEAP_PATH, headers={"X-API-KEY": "wrong"}).status_code == 429
    for _ in range(3):
        exempt = client.get(CHEAP_PATH, headers={"X-API-KEY": API_KEY})
        assert exempt.status_code == 200 and "ratelimit" not in exempt.headers
    # Without a configured key, no header value exempts (an empty key must not match an empty header).
    unkeyed = _client(_app(tmp_path / "other", redis_url, rate_limit=1, database_url=f"sqlite:///{tmp_path / 'o.db'}"))
    assert unkeyed.get(CHEAP_PATH).status_code == 200
    assert unkeyed.get(CHEAP_PATH, headers={"X-API-KEY": ""}).status_code == 429


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(tmp_path: Path, redis_url: str) -> None:
    untrusted = _client(_app(tmp_path, redis_url, rate_limit=1), peer="198.51.100.7")
    assert untrusted.get(CHEAP_PATH, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    # A client cannot pick a fresh bucket by sending its own header.
    assert untrusted.get(CHEAP_PATH, headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 429

    app = _app(
        tmp_path, redis_url, rate_limit=1, trusted_proxies="10.0.0.0/8", database_url=f"sqlite:///{tmp_path / 'p.db'}"
    )
    proxy = _client(app, peer="10.1.2.3")
    assert proxy.get(CHEAP_PATH, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    assert proxy.get(CHEAP_PATH, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 429
    assert proxy.get(CHEAP_PATH, headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 200
    # Entries the client prepends do not matter: the proxy appended the real address last.
    assert proxy.get(CHEAP_PATH, headers={"X-Forwarded-For": "9.9.9.9, 1.1.1.1"}).status_code == 429


def test_client_address_walks_forwarded_for_from_the_right() -> None:
    trusted = parse_networks(["10.0.0.0/8", "2001:db8::/32"])
    assert client_address("10.0.0.1", "203.0.113.5, 10.0.0.2", trusted) == "203.0.113.5"
    assert client_address("10.0.0.1", "6.6.6.6, 203.0.113.5", trusted) == "203.0.113.5"
    assert client_address("10.0.0.1", "10.0.0.9", trusted) == "10.0.0.9"  # only proxies: the farthest one
    assert client_address("10.0.0.1", "not-an-ip", trusted) == "10.0.0.1"
    assert client_address("203.0.113.9", "1.1.1.1", trusted) == "203.0.113.9"
    assert client_address("2001:db8::1", "2001:db9::5", trusted) == "2001:db9::5"
    assert client_address("10.0.0.1", "1.1.1.1", ()) == "10.0.0.1"


def test_a_malformed_trusted_proxy_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="INTMAX_TRUSTED_PROXIES"):
        load_settings(trusted_proxies="10.0.0.0/8,proxy.internal")


def test_redis_down_fails_open_with_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    client = _client(_app(tmp_path, f"redis://127.0.0.1:{free_port()}/0", rate_limit=1, database_url=url))
    with caplog.at_level(logging.WARNING, logger="intmax_api.redis"):
        for _ in range(3):
            response = client.get("/v1/token-maps/list")
            assert response.status_code == 200
            assert response.headers["x-cache"] == "MISS" and "ratelimit" not in response.headers
    messages = [r.getMessage() for r in caplog.records if r.name == "intmax_api.redis"]
    assert messages and all("redis unavailable" in m for m in messages)
    assert len(messages) <= 2  # once a minute, not once per request


# --- CORS, security headers, pretty -------------------------------------------------------------------
def test_cors_preflight_for_post_with_the_api_key_header(tmp_path: Path, redis_url: str) -> None:
    client = _client(_app(tmp_path, redis_url, allowed_origins="https://wallet.example", rate_limit=1))
    for _ in range(3):  # preflights are not counted against the rate limit
        response = client.options(
            "/v1/token-maps/list",
            headers={
                "Origin": "https://wallet.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-api-key",
            },
        )
        assert response.status_code == 200
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["access-control-allow-origin"] == "https://wallet.example"
        assert response.headers["access-control-max-age"] == "7200"
    foreign = client.options(
        "/v1/token-maps/list", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert foreign.status_code == 400 and "access-control-allow-origin" not in foreign.headers


def test_security_headers_on_success_and_error_responses(tmp_path: Path, redis_url: str) -> None:
    app = _app(tmp_path, redis_url)

    @app.get("/v1/test/crash")
    def crash() -> None:
        raise RuntimeError("boom")

    client = _client(app)
    for path, status in ((CHEAP_PATH, 200), ("/v1/nothing-here", 404), ("/v1/test/crash", 500)):
        response = client.get(path)
        assert response.status_code == status
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (path, name)
    assert "max-age=" in SECURITY_HEADERS["Strict-Transport-Security"]
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"


def test_pretty_prints_json_including_errors(tmp_path: Path, redis_url: str) -> None:
    client = _client(_app(tmp_path, redis_url))
    compact = client.get("/v1/nothing-here")
    pretty = client.get("/v1/nothing-here?pretty")
    assert compact.text == '{"code":"NOT_FOUND","message":"Resource not found"}'
    assert pretty.text == '{\n  "code": "NOT_FOUND",\n  "message": "Resource not found"\n}'
    assert int(pretty.headers["content-length"]) == len(pretty.content)
    assert client.get(f"{CHEAP_PATH}?pretty").text == client.get(CHEAP_PATH).text  # not JSON: untouched


# --- the cache piece ----------------------------------------------------------------------------------
def test_cache_key_never_collides_for_different_values() -> None:
    policy = CachePolicy(30, query_keys=("a", "b"))

    def key(*query: tuple[str, str]) -> str:
        return cache_key(policy, "/v1/x", list(query))

    assert key(("a", "1"), ("a", "2")) != key(("a", "1"), ("a", "3"))
    assert key(("a", "1"), ("a", "2")) != key(("a", "2"), ("a", "1"))  # request order counts
    assert key(("a", "1-b=2")) != key(("a", "1"), ("b", "2"))  # a separator inside a value
    assert key(("a", "1,2")) != key(("a", "1"), ("a", "2"))
    assert key(("a", "")) != key()
    assert key(("a", "1"), ("b", "2")) == key(("b", "2"), ("a", "1"))  # keys in the policy's order
    assert cache_key(policy, "/v1/x", []) != cache_key(policy, "/v1/y", [])
    fixed = CachePolicy(120, fixed_key="block_builder_indexer_list")
    assert cache_key(fixed, "/v1/x", [("a", "1")]) == cache_key(fixed, "/v1/y", [])


def test_cache_stores_only_2xx_answers(tmp_path: Path, redis_url: str) -> None:
    app = _app(tmp_path, redis_url)
    router = APIRouter(route_class=CachedRoute)
    statuses = [503, 404, 200, 500]
    calls = []

    @router.get("/v1/test/flaky")
    @cached(60)
    async def flaky() -> JSONResponse:
        calls.append(1)
        status = statuses[len(calls) - 1]
        return JSONResponse({"status": status}, status_code=status)

    app.include_router(router)
    client = _client(app)
    assert [client.get("/v1/test/flaky").status_code for _ in range(2)] == [503, 404]
    third = client.get("/v1/test/flaky")
    assert (third.status_code, third.headers["x-cache"]) == (200, "MISS")
    fourth = client.get("/v1/test/flaky")
    assert (fourth.status_code, fourth.headers["x-cache"], fourth.json()) == (200, "HIT", {"status": 200})
    assert len(calls) == 3  # the 200 came from Redis; the handler was not called again


def test_health_is_never_cached(tmp_path: Path, redis_url: str) -> None:
    client = _client(_app(tmp_path, redis_url))
    first, second = client.get("/v1/health"), client.get("/v1/health")
    assert "x-cache" not in first.headers and "x-cache" not in second.headers


# --- timeout ------------------------------------------------------------------------------------------
def _blocked_sessions(connection, database: str) -> int:  # type: ignore[no-untyped-def]
    """The API's sessions waiting on a lock in this database, once they had a moment to be cancelled."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND application_name = 'intmax-pipeline' "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 2.0
    while (count := connection.execute(query, {"d": database}).scalar_one()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def test_a_read_blocked_by_a_postgres_lock_is_504_and_is_cancelled_on_the_server(
    postgres_url: str, redis_url: str
) -> None:
    migrate.upgrade(postgres_url)
    client = _client(
        create_app(
            load_settings(database_url=postgres_url, redis_url=redis_url, api_request_timeout_seconds=TIMEOUT_SECONDS)
        )
    )
    locker = create_engine(normalize_url(postgres_url))
    try:
        with locker.connect() as connection, connection.begin():
            connection.execute(text("LOCK TABLE token_maps IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            response = client.get("/v1/token-maps/list?pretty")
            elapsed = time.monotonic() - started
            blocked = _blocked_sessions(connection, postgres_url.rsplit("/", 1)[1])
        assert response.status_code == 504
        assert response.json() == {"code": "GATEWAY_TIMEOUT", "message": "Gateway Timeout"}
        assert response.text.startswith("{\n")  # ?pretty applies to the 504 as well
        assert response.headers["x-request-id"] and response.headers["x-content-type-options"] == "nosniff"
        assert elapsed < TIMEOUT_SECONDS + TIMEOUT_MARGIN_SECONDS, f"answered after {elapsed:.1f} s"
        assert blocked == 0, "the blocked query is still waiting on the server after the 504"
        after = client.get("/v1/token-maps/list?pretty")  # the 504 was not cached
        assert (after.status_code, after.headers["x-cache"]) == (200, "MISS")
    finally:
        locker.dispose()


def test_a_read_blocked_by_a_sqlite_lock_is_504(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    client = _client(_app(tmp_path, redis_url, database_url=url, api_request_timeout_seconds=TIMEOUT_SECONDS))
    holder = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE token_maps SET symbol = symbol")
        started = time.monotonic()
        response = client.get("/v1/token-prices/list")
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 504 and response.json()["code"] == "GATEWAY_TIMEOUT"
    assert elapsed < TIMEOUT_SECONDS + TIMEOUT_MARGIN_SECONDS, f"answered after {elapsed:.1f} s"
    assert client.get("/v1/token-prices/list").status_code == 200


def test_an_unreachable_warehouse_is_503_not_500(tmp_path: Path, redis_url: str) -> None:
    client = _client(_app(tmp_path, redis_url, database_url="postgresql://intmax:hunter2@127.0.0.1:1/w"))
    response = client.get("/v1/token-maps/list")
    assert response.status_code == 503
    assert response.json() == {"code": "SERVICE_UNAVAILABLE", "message": "Warehouse unavailable"}
    assert "hunter2" not in response.text


# --- offline docs ------------------------------------------------------------------------------------
def test_docs_work_offline_under_the_content_security_policy(tmp_path: Path, redis_url: str) -> None:
    client = _client(_app(tmp_path, redis_url))
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing from the internet
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    csp = page.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)[1]
    assert "'unsafe-inline'" not in script_src and "'self'" in script_src
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 5
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100 or asset.endswith(".png"), asset
    assert "SwaggerUIBundle" in client.get("/docs/init.js").text
    schema = client.get("/openapi.json").json()
    assert {
        "/v1/health",
        "/v1/token-maps/list",
        "/v1/token-prices/list",
        "/v1/deposits/{depositId}",
        "/v1/deposits",
    } <= set(schema["paths"])
