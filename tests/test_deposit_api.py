"""The deposit status API over a real warehouse (SQLite and PostgreSQL): every lifecycle stage,
token resolution, exact amounts, cursor pagination, 400s and 404s in the envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from intmax_api.app import create_app
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.deposits_tables import deposits
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, token_maps

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HUGE_AMOUNT = 2**255 + 12345  # exact beyond 64 bits and beyond a double


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _deposit(deposit_id: int, depositor: str, token_index: int, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "deposit_id": deposit_id,
        "depositor": depositor,
        "recipient_salt_hash": _hash(1000 + deposit_id),
        "token_index": token_index,
        "amount": extra.pop("amount", 10**18),
        "is_eligible": extra.pop("is_eligible", True),
        "status": status,
        "deposit_hash": _hash(2000 + deposit_id),
        "deposit_tx_hash": _hash(3000 + deposit_id),
        "deposit_block_number": 100 + deposit_id,
        "deposited_at": T0,
        **extra,
    }


RELAYED = {
    "relay_up_to_deposit_id": 3,
    "relay_tx_hash": _hash(4000),
    "relay_block_number": 120,
    "relayed_at": datetime(2026, 3, 1, 12, 10, tzinfo=UTC),
}
ROWS = [
    _deposit(
        1,
        ALICE,
        0,
        "processed",
        **RELAYED,
        processed_tx_hash=_hash(5001),
        processed_block_number=900,
        processed_at=datetime(2026, 3, 1, 12, 20, tzinfo=UTC),
        leaf_index=0,
    ),
    _deposit(2, BOB, 1, "relayed", **RELAYED, amount=HUGE_AMOUNT),
    _deposit(3, ALICE, 7, "canceled", cancel_tx_hash=_hash(6003), cancel_block_number=110, is_eligible=False),
    _deposit(4, ALICE, 0, "pending"),
    _deposit(5, ALICE, 1, "pending", amount=0),
]


@pytest.fixture
def client(warehouse_url: str, redis_url: str) -> TestClient:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        for row in ROWS:  # one by one: the rows set different optional columns
            connection.execute(insert(deposits).values(**row))
        connection.execute(
            insert(token_maps),
            [
                {
                    "token_index": 0,
                    "token_type": 0,
                    "contract_address": ZERO_ADDRESS,
                    "token_id": 0,
                    "symbol": "ETH",
                    "decimals": 18,
                    "resolved_at": T0,
                    "resolve_error": None,
                },
                # Index 1 is known but not resolved yet; 7 is not in the token map at all.
                {
                    "token_index": 1,
                    "token_type": None,
                    "contract_address": None,
                    "token_id": None,
                    "symbol": None,
                    "decimals": None,
                    "resolved_at": None,
                    "resolve_error": "timeout",
                },
            ],
        )
    engine.dispose()
    settings = load_settings(database_url=warehouse_url, redis_url=redis_url)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def test_a_processed_deposit_has_its_whole_lifecycle(client: TestClient) -> None:
    response = client.get("/v1/deposits/1")
    assert response.status_code == 200
    assert response.json() == {
        "depositId": 1,
        "status": "processed",
        "depositor": ALICE,
        "recipientSaltHash": _hash(1001),
        "tokenIndex": 0,
        "tokenSymbol": "ETH",
        "tokenDecimals": 18,
        "amount": "1000000000000000000",
        "isEligible": True,
        "depositHash": _hash(2001),
        "deposit": {"txHash": _hash(3001), "blockNumber": 101, "time": "2026-03-01T12:00:00Z"},
        "relay": {"txHash": _hash(4000), "blockNumber": 120, "time": "2026-03-01T12:10:00Z", "upToDepositId": 3},
        "processed": {"txHash": _hash(5001), "blockNumber": 900, "time": "2026-03-01T12:20:00Z", "leafIndex": 0},
        "cancel": None,
    }


def test_relayed_canceled_and_pending_deposits(client: TestClient) -> None:
    relayed = client.get("/v1/deposits/2").json()
    assert relayed["status"] == "relayed" and relayed["processed"] is None and relayed["relay"]["upToDepositId"] == 3
    assert relayed["amount"] == str(HUGE_AMOUNT)  # exact uint256
    assert (relayed["tokenSymbol"], relayed["tokenDecimals"]) == (None, None)  # token 1 not resolved yet
    canceled = client.get("/v1/deposits/3").json()
    assert canceled["status"] == "canceled" and canceled["isEligible"] is False
    assert canceled["cancel"] == {"txHash": _hash(6003), "blockNumber": 110}
    assert canceled["relay"] is None and canceled["tokenSymbol"] is None  # token 7 unknown
    pending = client.get("/v1/deposits/5").json()
    assert (pending["status"], pending["amount"], pending["relay"]) == ("pending", "0", None)


@pytest.mark.parametrize("deposit_id", ["abc", "1.5", "-1", "1e3", "%201", "99999999999999999999"])
def test_a_non_numeric_deposit_id_is_400(client: TestClient, deposit_id: str) -> None:
    response = client.get(f"/v1/deposits/{deposit_id}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and [e["path"] for e in body["errors"]] == ["depositId"]


def test_an_unknown_deposit_is_404_in_the_envelope(client: TestClient) -> None:
    response = client.get("/v1/deposits/42")
    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "message": "Deposit 42 not found"}


def test_deposits_of_a_depositor_newest_first_with_a_cursor(client: TestClient) -> None:
    first = client.get(f"/v1/deposits?depositor={ALICE.upper().replace('0X', '0x')}&perPage=2").json()
    assert [d["depositId"] for d in first["items"]] == [5, 4]
    assert (first["nextCursor"], first["hasMore"]) == ("4", True)
    second = client.get(f"/v1/deposits?depositor={ALICE}&perPage=2&cursor=4").json()
    assert [d["depositId"] for d in second["items"]] == [3, 1]
    assert (second["nextCursor"], second["hasMore"]) == (None, False)
    everyone = client.get("/v1/deposits").json()
    assert [d["depositId"] for d in everyone["items"]] == [5, 4, 3, 2, 1]
    assert client.get(f"/v1/deposits?depositor={'0x' + '99' * 20}").json() == {
        "items": [],
        "nextCursor": None,
        "hasMore": False,
    }


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("depositor=0x1234", "depositor"),
        ("cursor=abc", "cursor"),
        ("perPage=0", "perPage"),
        ("perPage=2.0", "perPage"),
        ("status=pending", "status"),
        (f"depositor={ALICE}&depositor={BOB}", "depositor"),
    ],
)
def test_bad_list_queries_are_400(client: TestClient, query: str, path: str) -> None:
    response = client.get(f"/v1/deposits?{query}")
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == [path]


def test_the_openapi_schema_describes_the_deposit_exactly(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    deposit = schemas["Deposit"]
    assert set(deposit["properties"]) == set(client.get("/v1/deposits/1").json())
    assert deposit["properties"]["status"]["enum"] == ["pending", "relayed", "processed", "canceled"]
    assert {"leafIndex", "txHash", "blockNumber", "time"} <= set(schemas["DepositProcessed"]["properties"])
