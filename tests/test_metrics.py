"""GET /metrics: the API's request metrics and the pipeline gauges, against the real app with real
Redis and a migrated warehouse (SQLite and PostgreSQL). The exposition is parsed with
prometheus_client's own parser, never matched as text."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from intmax_api.app import create_app
from intmax_api.pipeline_collector import PipelineCollector
from intmax_core.config import SettingsError, load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.builders_tables import block_builders
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import stream_cursors, stream_ranges, withdrawals
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.deposit_rows import insert_deposits

DEPOSIT_ROUTE = "/v1/deposits/{depositId}"
ALICE = "0x" + "a1" * 20
PASSWORD = "metrics-pw-7c4e1a9b"
UNREACHABLE_POSTGRES = f"postgresql://intmax:{PASSWORD}@127.0.0.1:1/warehouse"
L1, L2 = 31337, 31338
# Ages are computed from the database's clock against the API's; both are this machine's.
AGE_TOLERANCE_SECONDS = 15.0

Samples = list[tuple[str, dict[str, str], float]]


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _app(tmp_path: Path, redis_url: str, database_url: str, **settings: object) -> FastAPI:
    return create_app(
        load_settings(data_dir=tmp_path / "data", database_url=database_url, redis_url=redis_url, **settings)
    )


@contextmanager
def _sqlite_client(tmp_path: Path, redis_url: str, **settings: object) -> Iterator[TestClient]:
    """The app on a fresh migrated SQLite warehouse (its URL also gives it fresh Redis keys)."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    with TestClient(_app(tmp_path, redis_url, url, **settings), raise_server_exceptions=False) as client:
        yield client


def _samples(text: str) -> Samples:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def _scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return _samples(response.text)


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    found = [value for sample, sample_labels, value in samples if sample == name and sample_labels == labels]
    assert len(found) <= 1, f"{name}{labels} appears {len(found)} times"
    return found[0] if found else None


def _labels(samples: Samples, name: str, label: str) -> set[str]:
    return {labels[label] for sample, labels, _ in samples if sample == name}


# --------------------------------------------------------------------------- request metrics


def test_answers_are_counted_by_route_template_method_and_status(
    warehouse_url: str, redis_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(warehouse_url)
    insert_deposits(warehouse_url, ["processed", "processed"])
    app = _app(tmp_path, redis_url, warehouse_url)

    @app.get("/v1/test/crash")  # a route that fails, added to the real app for this test only
    def crash() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        statuses = [
            client.get("/v1/deposits/1").status_code,
            client.get("/v1/deposits/2").status_code,
            client.get("/v1/deposits/999").status_code,
            client.get("/no/such/path/42").status_code,
            client.request("BREW", "/v1/time").status_code,
            client.get("/v1/test/crash").status_code,
        ]
        assert statuses == [200, 200, 404, 404, 405, 500]
        samples = _scrape(client)
    requests = "intmax_api_requests_total"
    # Two deposit ids, one series: the label is the template, never the raw path.
    assert _value(samples, requests, route=DEPOSIT_ROUTE, method="GET", status="200") == 2
    assert _value(samples, requests, route=DEPOSIT_ROUTE, method="GET", status="404") == 1
    assert _value(samples, requests, route="unmatched", method="GET", status="404") == 1
    # A method nobody defines is "other": clients cannot mint label values.
    assert _value(samples, requests, route="/v1/time", method="other", status="405") == 1
    # An unhandled error is answered outside the middleware, and still counted.
    assert _value(samples, requests, route="/v1/test/crash", method="GET", status="500") == 1
    assert _labels(samples, requests, "route") == {DEPOSIT_ROUTE, "unmatched", "/v1/time", "/v1/test/crash"}
    latency = "intmax_api_request_duration_seconds"
    assert _value(samples, f"{latency}_count", route=DEPOSIT_ROUTE, method="GET") == 3
    assert _value(samples, f"{latency}_bucket", route=DEPOSIT_ROUTE, method="GET", le="+Inf") == 3
    assert (_value(samples, f"{latency}_sum", route=DEPOSIT_ROUTE, method="GET") or 0) > 0
    # Without `_created` twins (they would double every series).
    assert not any(name.endswith("_created") for name, _, _ in samples)


def test_rate_limited_answers_are_counted_and_metrics_is_never_limited(tmp_path: Path, redis_url: str) -> None:
    with _sqlite_client(tmp_path, redis_url, rate_limit=3) as client:
        statuses = [client.get("/v1/time").status_code for _ in range(5)]
        scrapes = [client.get("/metrics") for _ in range(10)]
    assert statuses == [200, 200, 200, 429, 429]
    assert [r.status_code for r in scrapes] == [200] * 10
    assert all("ratelimit" not in r.headers for r in scrapes)
    samples = _samples(scrapes[-1].text)
    requests = "intmax_api_requests_total"
    assert _value(samples, requests, route="/v1/time", method="GET", status="200") == 3
    assert _value(samples, requests, route="/v1/time", method="GET", status="429") == 2
    assert _value(samples, requests, route="/metrics", method="GET", status="200") == 9


def test_cache_hits_and_misses_are_counted_as_x_cache_says(tmp_path: Path, redis_url: str) -> None:
    with _sqlite_client(tmp_path, redis_url) as client:
        meta = [client.get("/v1/indexer/builders/meta").headers["x-cache"] for _ in range(3)]
        registrations = [
            client.get(f"/v1/indexer/builders/registration/0x{byte * 20}").headers["x-cache"] for byte in ("b1", "b2")
        ]
        assert "x-cache" not in client.get("/v1/time").headers
        samples = _scrape(client)
    assert (meta, registrations) == (["MISS", "HIT", "HIT"], ["MISS", "MISS"])
    lookups = "intmax_api_cache_lookups_total"
    assert _value(samples, lookups, route="/v1/indexer/builders/meta", result="hit") == 2
    assert _value(samples, lookups, route="/v1/indexer/builders/meta", result="miss") == 1
    registration = "/v1/indexer/builders/registration/{address}"
    assert _value(samples, lookups, route=registration, result="miss") == 2
    assert _value(samples, lookups, route=registration, result="hit") is None
    assert _labels(samples, lookups, "route") == {"/v1/indexer/builders/meta", registration}


def test_a_timed_out_request_is_counted_and_a_locked_warehouse_is_up_0_quickly(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    timeout = 0.5
    app = _app(tmp_path, redis_url, url, api_request_timeout_seconds=timeout)
    with TestClient(app, raise_server_exceptions=False) as client:
        holder = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
        try:  # an exclusive lock that even readers wait on
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("UPDATE deposits SET status = status")
            assert client.get("/v1/token-prices/list").status_code == 504
            started = time.monotonic()
            locked = _scrape(client)  # the pipeline read gives up within the request's deadline
            elapsed = time.monotonic() - started
        finally:
            holder.rollback()
            holder.close()
    assert elapsed < timeout + 1.0, f"/metrics answered after {elapsed:.1f} s"
    assert _value(locked, "intmax_api_requests_total", route="/v1/token-prices/list", method="GET", status="504") == 1
    assert _value(locked, "intmax_warehouse_up") == 0
    assert _value(locked, "intmax_deposits_pending") is None


# --------------------------------------------------------------------------- pipeline gauges


def _seed_pipeline(url: str, now: datetime) -> None:
    insert_deposits(url, ["pending", "relayed", "pending", "processed", "canceled", "pending"])
    engine = make_engine(url)
    with engine.begin() as connection:
        cursors = [  # (stream, chain, cursor block, cursor written this long ago)
            ("l1_liquidity", L1, 100, 30),
            ("l1_minter", L1, 80, 3600),
            ("l1_scroll_messenger", L1, 120, 10),
            ("l2_rollup", L2, 50, 20),
            ("l2_withdrawal", L2, 45, 40),
        ]
        for stream, chain_id, block, age in cursors:
            connection.execute(
                insert(stream_cursors).values(
                    stream=stream,
                    chain_id=chain_id,
                    block_number=block,
                    block_hash=_hash(block),
                    updated_at=now - timedelta(seconds=age),
                )
            )
            connection.execute(
                insert(stream_ranges).values(
                    stream=stream, chain_id=chain_id, from_block=1, to_block=block, to_block_hash=_hash(block)
                )
            )
        # A range past a hole (a partition re-index): the minter's cursor stays at 80.
        connection.execute(
            insert(stream_ranges).values(
                stream="l1_minter", chain_id=L1, from_block=90, to_block=95, to_block_hash=_hash(95)
            )
        )
        for n, (status, age) in enumerate(
            [("requested", 600), ("requested", 60), ("success", 5000), ("need_claim", 7000), ("failed", 9000)]
        ):
            connection.execute(
                insert(withdrawals).values(
                    withdrawal_hash=_hash(1000 + n),
                    status=status,
                    pubkey=_hash(2000 + n),
                    recipient=ALICE,
                    contract_withdrawal={"recipient": ALICE, "tokenIndex": 0, "amount": "5", "nullifier": _hash(n)},
                    created_at=now - timedelta(seconds=age),
                )
            )
        for n, active in enumerate([True, False, False, None]):
            connection.execute(
                insert(block_builders).values(
                    address="0x" + f"{n + 1:02x}" * 20,
                    url="https://builder.example",
                    chain_id=L2,
                    heartbeat_block_number=5,
                    heartbeat_log_index=n,
                    heartbeat_tx_hash=_hash(3000 + n),
                    last_synced_at=now,
                    active=active,
                )
            )
    engine.dispose()


def test_pipeline_gauges_equal_what_the_warehouse_holds(warehouse_url: str, redis_url: str, tmp_path: Path) -> None:
    migrate.upgrade(warehouse_url)
    now = datetime.now(UTC)
    _seed_pipeline(warehouse_url, now)
    with TestClient(_app(tmp_path, redis_url, warehouse_url), raise_server_exceptions=False) as client:
        samples = _scrape(client)
    assert _value(samples, "intmax_warehouse_up") == 1
    assert _value(samples, "intmax_deposits_pending") == 3
    assert _value(samples, "intmax_withdrawals_requested") == 2
    oldest = _value(samples, "intmax_withdrawals_oldest_requested_age_seconds")
    assert oldest is not None and abs(oldest - 600) < AGE_TOLERANCE_SECONDS, oldest
    assert _value(samples, "intmax_block_builders_inactive") == 2  # never judged (NULL) is not inactive
    expected = {  # stream: (chain, cursor, lag behind the chain's newest indexed block, cursor age)
        "l1_liquidity": (L1, 100, 20, 30),
        "l1_minter": (L1, 80, 40, 3600),
        "l1_scroll_messenger": (L1, 120, 0, 10),
        "l2_rollup": (L2, 50, 0, 20),
        "l2_withdrawal": (L2, 45, 5, 40),
    }
    assert _labels(samples, "intmax_indexing_cursor_block", "stream") == set(expected)
    for stream, (chain_id, cursor, lag, age) in expected.items():
        labels = {"stream": stream, "chain_id": str(chain_id)}
        assert _value(samples, "intmax_indexing_cursor_block", **labels) == cursor, stream
        assert _value(samples, "intmax_indexing_lag_blocks", **labels) == lag, stream
        seen_age = _value(samples, "intmax_indexing_cursor_age_seconds", **labels)
        assert seen_age is not None and abs(seen_age - age) < AGE_TOLERANCE_SECONDS, (stream, seen_age)


def test_an_unreachable_warehouse_is_up_0_not_a_500_and_leaks_no_password(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(tmp_path, redis_url, UNREACHABLE_POSTGRES)
    with caplog.at_level(logging.DEBUG), TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/time").status_code == 200
        response = client.get("/metrics")
    assert response.status_code == 200
    samples = _samples(response.text)
    assert _value(samples, "intmax_warehouse_up") == 0
    # The other pipeline gauges are absent, not zero: zero would read as "nothing pending".
    for name in ("intmax_deposits_pending", "intmax_withdrawals_requested", "intmax_block_builders_inactive"):
        assert _value(samples, name) is None, name
    assert _value(samples, "intmax_api_requests_total", route="/v1/time", method="GET", status="200") == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "intmax_api.metrics"]
    assert warnings and "OperationalError" in warnings[0]
    assert PASSWORD not in response.text
    assert PASSWORD not in caplog.text


def test_a_warehouse_lost_after_a_reading_drops_the_gauges_instead_of_keeping_them() -> None:
    url = create_postgres_database()
    try:
        migrate.upgrade(url)
        insert_deposits(url, ["pending"])
        collector = PipelineCollector(url, min_interval_seconds=0)
        anyio.run(collector.refresh)
        before = {m.name: m.samples[0].value for m in collector.collect() if m.samples}
        assert before["intmax_warehouse_up"] == 1 and before["intmax_deposits_pending"] == 1
    finally:
        drop_postgres_database(url)
    anyio.run(collector.refresh)
    after = {m.name: m.samples[0].value for m in collector.collect() if m.samples}
    assert after["intmax_warehouse_up"] == 0
    assert "intmax_deposits_pending" not in after  # a stale 1 would hide the outage


# --------------------------------------------------------------------------- serving


def test_metrics_is_outside_the_openapi_per_app_and_can_be_turned_off(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    first, second = _app(tmp_path, redis_url, url), _app(tmp_path, redis_url, url)
    assert "/metrics" not in first.openapi()["paths"]
    with TestClient(first) as one, TestClient(second) as two:
        assert one.get("/v1/time").status_code == 200
        # Each app has its own registry: one app's requests never show in the other's metrics.
        assert _value(_scrape(two), "intmax_api_requests_total", route="/v1/time", method="GET", status="200") is None
        assert _value(_scrape(one), "intmax_api_requests_total", route="/v1/time", method="GET", status="200") == 1
    off = _app(tmp_path, redis_url, url, api_metrics_enabled=False)
    with TestClient(off, raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 404
    with pytest.raises(SettingsError, match="INTMAX_API_METRICS_ENABLED"):
        load_settings(api_metrics_enabled="sometimes")
