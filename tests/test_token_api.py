"""The token API over a real warehouse (SQLite and PostgreSQL) and a real Redis: shapes, order,
pagination, strict validation, the response cache (HIT/MISS, the defect-20 key collision), ETag and gzip."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, insert, update

from intmax_api.app import create_app
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, token_maps, token_prices

DEFAULT_IMAGE = "https://images.example/default.png"
A = "0x" + "aa" * 20
B = "0x" + "bb" * 20
C = "0x" + "cc" * 20
D = "0x" + "dd" * 20
E = "0x" + "ee" * 20
RESOLVED = datetime(2026, 1, 1, tzinfo=UTC)
BIG_TOKEN_ID = 2**200 + 7  # uint256 token ids exceed 64 bits


def _map_row(index: int, token_type: int | None, address: str | None, symbol: str | None, **extra: object) -> dict:
    return {
        "token_index": index,
        "token_type": token_type,
        "contract_address": address,
        "token_id": extra.pop("token_id", 0),
        "symbol": symbol,
        "decimals": extra.pop("decimals", 18 if symbol else None),
        "resolved_at": extra.pop("resolved_at", RESOLVED if symbol else None),
        **extra,
    }


TOKEN_MAPS = [
    _map_row(0, 0, ZERO_ADDRESS, "ETH"),
    _map_row(1, 1, A, "USDC", decimals=6),
    _map_row(10, 1, C, "CCC"),  # inserted before 2: order must be numeric, not insertion or string order
    _map_row(2, 1, B, "BBB"),
    _map_row(3, 2, D, "NFT", token_id=BIG_TOKEN_ID, decimals=0),
    _map_row(4, None, None, None, resolve_error="execution reverted"),  # unresolved: never served
]
PRICES = [
    {
        "coingecko_id": "ethereum",
        "symbol": "eth",
        "contract_address": ZERO_ADDRESS,
        "decimals": 18,
        "price_usd": 3000.5,
    },
    {"coingecko_id": "usd-coin", "symbol": "usdc", "contract_address": A, "decimals": 6, "price_usd": 1.0},
    {"coingecko_id": "coin-c", "symbol": "ccc", "contract_address": C, "decimals": 18, "price_usd": 0.25},
    {"coingecko_id": "coin-e", "symbol": "eee", "contract_address": E, "decimals": 18, "price_usd": 2.0},
]


def _price_rows() -> list[dict]:
    return [
        {
            **price,
            "image": f"https://images.example/{price['coingecko_id']}.png",
            "list_position": position,
            "synced_at": RESOLVED,
        }
        for position, price in enumerate(PRICES)
    ]


@pytest.fixture
def token_warehouse(warehouse_url: str) -> Iterator[str]:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        connection.execute(insert(token_maps), TOKEN_MAPS)
        connection.execute(insert(token_prices), _price_rows())
    engine.dispose()
    yield warehouse_url


def _execute(url: str, statement) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(statement)
    engine.dispose()


@pytest.fixture
def client(token_warehouse: str, redis_url: str) -> TestClient:
    settings = load_settings(database_url=token_warehouse, redis_url=redis_url, token_default_image_url=DEFAULT_IMAGE)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def test_token_maps_have_the_original_shape_in_numeric_order(client: TestClient) -> None:
    response = client.get("/v1/token-maps/list")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 5 and body["nextCursor"] is None and body["hasMore"] is False
    assert [item["tokenIndex"] for item in body["items"]] == [0, 1, 2, 3, 10]
    assert body["items"][0] == {
        "tokenIndex": 0,
        "tokenType": 0,
        "contractAddress": ZERO_ADDRESS,
        "symbol": "ETH",
        "decimals": 18,
        "price": 3000.5,
        "image": "https://images.example/ethereum.png",
    }
    by_index = {item["tokenIndex"]: item for item in body["items"]}
    # No price for B: price 0 and the default image; tokenId only for the ERC721, exact beyond 64 bits.
    assert (by_index[2]["price"], by_index[2]["image"]) == (0, DEFAULT_IMAGE)
    assert "tokenId" not in by_index[1] and "createdAt" not in by_index[1]
    assert by_index[3]["tokenId"] == BIG_TOKEN_ID


def test_token_maps_filtered_by_token_indexes(client: TestClient) -> None:
    body = client.get("/v1/token-maps/list?tokenIndexes=10&tokenIndexes=1&tokenIndexes=4&tokenIndexes=99").json()
    assert [item["tokenIndex"] for item in body["items"]] == [1, 10]  # 4 unresolved, 99 unknown
    assert body["total"] == 2


def test_token_prices_list_and_filter_in_request_order(client: TestClient) -> None:
    body = client.get("/v1/token-prices/list").json()
    assert [item["id"] for item in body["items"]] == ["ethereum", "usd-coin", "coin-c", "coin-e"]
    assert body["items"][1] == {
        "id": "usd-coin",
        "symbol": "usdc",
        "price": 1.0,
        "contractAddress": A,
        "decimals": 6,
        "image": "https://images.example/usd-coin.png",
    }
    filtered = client.get(
        f"/v1/token-prices/list?contractAddresses={C.upper().replace('0X', '0x')}"
        f"&contractAddresses={B}&contractAddresses={A}"
    ).json()
    # Uppercase hex is accepted and lowercased; B has no price and is dropped; request order is kept.
    assert [item["contractAddress"] for item in filtered["items"]] == [C, A]
    assert filtered["total"] == 2


def test_pagination_by_contract_address_cursor(client: TestClient) -> None:
    first = client.get("/v1/token-prices/list?perPage=2").json()
    assert [i["id"] for i in first["items"]] == ["ethereum", "usd-coin"]
    assert (first["nextCursor"], first["hasMore"], first["total"]) == (A, True, 4)
    second = client.get(f"/v1/token-prices/list?perPage=2&cursor={A}").json()
    assert [i["id"] for i in second["items"]] == ["coin-c", "coin-e"]
    assert (second["nextCursor"], second["hasMore"]) == (None, False)  # nothing remains: no cursor
    # An unknown cursor starts again at 0; a cursor alone paginates with the default 100.
    restart = client.get(f"/v1/token-prices/list?perPage=3&cursor={B}").json()
    assert [i["id"] for i in restart["items"]] == ["ethereum", "usd-coin", "coin-c"]
    assert (restart["nextCursor"], restart["hasMore"]) == (C, True)
    maps = client.get(f"/v1/token-maps/list?cursor={B}").json()
    assert [i["tokenIndex"] for i in maps["items"]] == [3, 10]
    assert (maps["nextCursor"], maps["hasMore"], maps["total"]) == (None, False, 5)


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("perPage=1.5", "perPage"),
        ("perPage=1e2", "perPage"),
        ("perPage=%203", "perPage"),
        ("perPage=0", "perPage"),
        ("perPage=251", "perPage"),
        ("perPage=-1", "perPage"),
        ("perPage=2&perPage=3", "perPage"),
        ("pageSize=10", "pageSize"),
        ("tokenIndexes=abc", "tokenIndexes"),
        ("tokenIndexes=", "tokenIndexes"),
        ("tokenIndexes=99999999999999999999", "tokenIndexes"),
        ("cursor=a&cursor=b", "cursor"),
    ],
)
def test_token_maps_reject_bad_queries_with_400(client: TestClient, query: str, path: str) -> None:
    response = client.get(f"/v1/token-maps/list?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and body["message"] == "Validation Error"
    assert [e["path"] for e in body["errors"]] == [path]


@pytest.mark.parametrize("address", ["0x1234", "aa" * 20 + "0x", "0x" + "zz" * 20, ""])
def test_token_prices_reject_malformed_addresses(client: TestClient, address: str) -> None:
    response = client.get(f"/v1/token-prices/list?contractAddresses={address}")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "contractAddresses", "message": "Invalid Ethereum address format"}]


def test_more_than_100_list_values_is_400_not_500(client: TestClient) -> None:
    """The original's store failed past 30 values with a 500 (defect 25); 100 pass, 101 are refused."""
    ok = client.get("/v1/token-maps/list?" + "&".join(f"tokenIndexes={i}" for i in range(100)))
    assert ok.status_code == 200 and ok.json()["total"] == 5
    too_many = client.get("/v1/token-maps/list?" + "&".join(f"tokenIndexes={i}" for i in range(101)))
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0] == {"path": "tokenIndexes", "message": "At most 100 values"}
    addresses = "&".join(f"contractAddresses=0x{i:040x}" for i in range(101))
    assert client.get(f"/v1/token-prices/list?{addresses}").status_code == 400


def test_cache_serves_hits_and_repeated_values_do_not_collide(client: TestClient, token_warehouse: str) -> None:
    """Defect 20: only the first value of a repeated key entered the original's cache key."""
    first = client.get("/v1/token-maps/list?tokenIndexes=1&tokenIndexes=2")
    assert first.headers["x-cache"] == "MISS"
    again = client.get("/v1/token-maps/list?tokenIndexes=1&tokenIndexes=2")
    assert again.headers["x-cache"] == "HIT" and again.content == first.content
    other = client.get("/v1/token-maps/list?tokenIndexes=1&tokenIndexes=3")
    assert other.headers["x-cache"] == "MISS"
    assert [i["tokenIndex"] for i in other.json()["items"]] == [1, 3]
    # The warehouse changes; the cached answer stays until its TTL (a HIT really is the stored one).
    _execute(token_warehouse, delete(token_maps).where(token_maps.c.token_index == 2))
    cached = client.get("/v1/token-maps/list?tokenIndexes=1&tokenIndexes=2")
    assert cached.headers["x-cache"] == "HIT" and [i["tokenIndex"] for i in cached.json()["items"]] == [1, 2]
    fresh = client.get("/v1/token-maps/list?tokenIndexes=2&tokenIndexes=1")  # other order, other key
    assert fresh.headers["x-cache"] == "MISS" and [i["tokenIndex"] for i in fresh.json()["items"]] == [1]


def test_invalid_queries_are_never_served_from_the_cache(client: TestClient) -> None:
    assert client.get("/v1/token-maps/list?perPage=2").headers["x-cache"] == "MISS"
    assert client.get("/v1/token-maps/list?perPage=2").headers["x-cache"] == "HIT"
    # Same allow-listed values plus an unknown key: validated, not answered from the entry above.
    response = client.get("/v1/token-maps/list?perPage=2&bogus=1")
    assert response.status_code == 400 and "x-cache" not in response.headers
    bad = client.get("/v1/token-maps/list?perPage=abc")
    assert bad.status_code == 400 and client.get("/v1/token-maps/list?perPage=abc").status_code == 400


def test_etag_answers_304_and_pretty_applies_to_cached_bodies(client: TestClient) -> None:
    first = client.get("/v1/token-prices/list")
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    not_modified = client.get("/v1/token-prices/list", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert client.get("/v1/token-prices/list", headers={"If-None-Match": 'W/"other"'}).status_code == 200
    pretty = client.get("/v1/token-prices/list?pretty")
    assert pretty.headers["x-cache"] == "HIT"  # the compact entry, pretty-printed on the way out
    assert pretty.text.startswith('{\n  "items": [\n') and pretty.json() == first.json()
    assert b"\n" not in first.content


def test_gzip_when_the_client_accepts_it(client: TestClient) -> None:
    plain = client.get("/v1/token-maps/list", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    # httpx would decode gzip transparently: read the raw bytes to see what was on the wire.
    with client.stream("GET", "/v1/token-maps/list", headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in response.headers["vary"].lower()
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content)


def test_unresolved_then_resolved_token_appears_after_the_ttl_only(client: TestClient, token_warehouse: str) -> None:
    assert 4 not in [i["tokenIndex"] for i in client.get("/v1/token-maps/list?perPage=50").json()["items"]]
    _execute(
        token_warehouse,
        update(token_maps)
        .where(token_maps.c.token_index == 4)
        .values(token_type=1, contract_address=E, symbol="EEE", decimals=18, resolved_at=RESOLVED),
    )
    items = client.get("/v1/token-maps/list?perPage=49").json()["items"]  # another key: read fresh
    assert {
        "tokenIndex": 4,
        "tokenType": 1,
        "contractAddress": E,
        "symbol": "EEE",
        "decimals": 18,
        "price": 2.0,
        "image": "https://images.example/coin-e.png",
    } in items
