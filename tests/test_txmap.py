"""tx-map: POST/GET /v1/map over a real warehouse and Redis, expiry exact (never served or cached
past it), strict bodies, 404 with the original message, and the cleaner's batches."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from intmax_api.app import create_app
from intmax_assets.defs.txmap import tx_maps as tx_maps_asset
from intmax_assets.resources import WarehouseResource
from intmax_core.config import load_settings
from intmax_core.txmap import store
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.txmap_tables import tx_maps


@pytest.fixture
def client(warehouse_url: str, redis_url: str) -> TestClient:
    migrate.upgrade(warehouse_url)
    return TestClient(
        create_app(load_settings(database_url=warehouse_url, redis_url=redis_url)), raise_server_exceptions=False
    )


def test_post_then_get_overwrite_and_cache(client: TestClient) -> None:
    created = client.post("/v1/map", json={"digest": "d1", "data": "first"})
    assert created.status_code == 200 and created.json() == {"digest": "d1"}
    first = client.get("/v1/map/d1")
    assert first.json() == {"digest": "d1", "data": "first"} and first.headers["x-cache"] == "MISS"
    assert client.get("/v1/map/d1").headers["x-cache"] == "HIT"
    assert "x-intmax-cache-ttl-ms" not in first.headers
    # A repeated POST overwrites, and the cached answer goes with it.
    client.post("/v1/map", json={"digest": "d1", "data": "second", "expiresIn": 300})
    assert client.get("/v1/map/d1").json() == {"digest": "d1", "data": "second"}


def test_an_unknown_digest_is_404_with_the_original_message(client: TestClient) -> None:
    response = client.get("/v1/map/nope")
    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "message": "Tx map not found for key: nope"}


@pytest.mark.parametrize(
    "body",
    [
        {"digest": "d", "data": "x", "expiresIn": 299},
        {"digest": "d", "data": "x", "expiresIn": 432_001},
        {"digest": "d", "data": "x", "expiresIn": "300"},
        {"digest": "d", "data": "x", "expiresIn": True},
        {"digest": "d", "data": 5},
        {"data": "x"},
        {"digest": "", "data": "x"},
        {"digest": "d", "data": "x", "extra": 1},
        # PostgreSQL text cannot hold U+0000: it was a 500 there (found by the fuzzer).
        {"digest": "d\x00", "data": "x"},
        {"digest": "d", "data": "x\x00y"},
        [],
    ],
)
def test_invalid_bodies_are_400(client: TestClient, body: object) -> None:
    response = client.post("/v1/map", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("content", [b'{"digest": "d", "data": ', b"\x00\x00\x00\x12\xff"])
def test_malformed_json_is_400(client: TestClient, content: bytes) -> None:
    # The second is not even text (JSON's encoding detection fails): FastAPI's own 400 before the
    # envelope handler learnt it was a BAD_REQUEST with another shape.
    response = client.post("/v1/map", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_a_digest_holding_nul_is_400_not_a_server_error(client: TestClient) -> None:
    response = client.get("/v1/map/a%00b")
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "digest"


def test_an_entry_is_never_served_past_its_expiry_even_from_the_cache(client: TestClient, warehouse_url: str) -> None:
    # The API's minimum lifetime is 5 minutes: write a short-lived entry directly to see the boundary.
    engine = make_engine(warehouse_url)
    expires_at = datetime.now(UTC) + timedelta(seconds=2)
    with engine.begin() as connection:
        store.put(connection, "short", "soon gone", expires_at)
    engine.dispose()
    assert client.get("/v1/map/short").status_code == 200  # cached for at most the 2 s left
    assert client.get("/v1/map/short").headers["x-cache"] == "HIT"
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.2)
    gone = client.get("/v1/map/short")
    assert gone.status_code == 404 and gone.headers.get("x-cache") != "HIT"


def test_the_cleaner_deletes_expired_entries_in_batches(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(tx_maps),
            [{"digest": f"old{i}", "data": "x", "expires_at": now - timedelta(seconds=1 + i)} for i in range(1_201)]
            + [{"digest": f"live{i}", "data": "x", "expires_at": now + timedelta(hours=1)} for i in range(3)],
        )
    result = dg.materialize([tx_maps_asset], resources={"warehouse": WarehouseResource(url=warehouse_url)})
    assert result.success
    (materialization,) = [e.materialization for e in result.get_asset_materialization_events()]
    assert materialization.metadata["deleted_expired"].value == 1_201
    assert materialization.metadata["entries"].value == 3
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tx_maps)).scalar_one() == 3
    engine.dispose()
