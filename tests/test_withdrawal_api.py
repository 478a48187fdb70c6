"""The withdrawal lifecycle API over a real warehouse (SQLite and PostgreSQL): status, group, L2
submission and L1 events from the chain tables, pagination, 400s and 404s; never the proof."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from intmax_api.app import create_app
from intmax_api.routers.withdrawals import Withdrawal
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.aggregator_tables import withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, token_maps
from tests.withdrawal_rows import event, request, withdrawal_hash

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
RECIPIENT = "0x" + "02" * 20  # tests.withdrawal_rows.request's recipient
GROUP = "9f1c2d4e-0000-4000-8000-000000000001"
L2_TX, L1_TX, CLAIM_TX = "0x" + "2a" * 32, "0x" + "1b" * 32, "0x" + "1c" * 32


@pytest.fixture
def client(warehouse_url: str, redis_url: str) -> TestClient:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        paid = request(connection, 1, T0, status="success")
        claimable = request(connection, 2, T0 + timedelta(minutes=1), status="need_claim")
        request(connection, 3, T0 + timedelta(minutes=2))  # requested, in no group yet
        connection.execute(insert(withdrawal_groups).values(group_id=GROUP, status="submitted", member_count=2))
        connection.execute(
            insert(withdrawal_group_members),
            [
                {"group_id": GROUP, "position": 0, "withdrawal_hash": paid},
                {"group_id": GROUP, "position": 1, "withdrawal_hash": claimable},
            ],
        )
        event(connection, "DirectWithdrawalQueued", 50, 0, L2_TX, withdrawal_hash=paid)
        event(connection, "ClaimableWithdrawalQueued", 50, 1, L2_TX, withdrawal_hash=claimable)
        event(connection, "DirectWithdrawalSuccessed", 70, 0, L1_TX, withdrawal_hash=paid)
        event(connection, "WithdrawalClaimable", 70, 1, L1_TX, withdrawal_hash=claimable)
        connection.execute(
            insert(token_maps).values(
                token_index=0, token_type=0, contract_address=ZERO_ADDRESS, symbol="ETH", decimals=18, resolved_at=T0
            )
        )
    engine.dispose()
    return TestClient(
        create_app(load_settings(database_url=warehouse_url, redis_url=redis_url)), raise_server_exceptions=False
    )


def test_a_paid_withdrawal_shows_every_step(client: TestClient) -> None:
    response = client.get(f"/v1/withdrawals/{withdrawal_hash(1)}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and body["recipient"] == RECIPIENT
    assert (body["tokenIndex"], body["tokenSymbol"], body["tokenDecimals"], body["amount"]) == (0, "ETH", 18, "1")
    assert body["group"] == {"groupId": GROUP, "status": "submitted", "position": 0}
    assert body["l2Submission"] == {
        "event": "DirectWithdrawalQueued",
        "txHash": L2_TX,
        "blockNumber": 50,
        "time": "2026-01-01T00:00:00Z",
    }
    assert [(e["event"], e["txHash"]) for e in body["l1Events"]] == [("DirectWithdrawalSuccessed", L1_TX)]
    # Never the proof: no such field, and its bytes appear in no encoding.
    assert set(body) == set(Withdrawal.model_fields)
    assert "proof" not in {k.lower() for k in body} and b"proof".hex() not in response.text
    assert base64.b64encode(b"proof").decode() not in response.text


def test_a_request_not_yet_grouped(client: TestClient) -> None:
    body = client.get(f"/v1/withdrawals/{withdrawal_hash(3).upper().replace('0X', '0x')}").json()
    assert (body["status"], body["group"], body["l2Submission"], body["l1Events"]) == ("requested", None, None, [])


def test_a_recipient_list_pages_newest_first(client: TestClient) -> None:
    first = client.get("/v1/withdrawals", params={"recipient": RECIPIENT.upper().replace("0X", "0x"), "perPage": "2"})
    assert first.status_code == 200
    page = first.json()
    assert [i["withdrawalHash"] for i in page["items"]] == [withdrawal_hash(3), withdrawal_hash(2)]
    assert page["hasMore"] is True and page["nextCursor"] == withdrawal_hash(2)
    second = client.get(
        "/v1/withdrawals", params={"recipient": RECIPIENT, "perPage": "2", "cursor": page["nextCursor"]}
    )
    assert [i["withdrawalHash"] for i in second.json()["items"]] == [withdrawal_hash(1)]
    assert second.json() | {"items": []} == {"items": [], "nextCursor": None, "hasMore": False}
    other = client.get("/v1/withdrawals", params={"recipient": "0x" + "77" * 20}).json()
    assert other == {"items": [], "nextCursor": None, "hasMore": False}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/withdrawals/0x1234", None, "withdrawalHash"),
        ("/v1/withdrawals/" + "0x" + "zz" * 32, None, "withdrawalHash"),
        ("/v1/withdrawals", {}, "recipient"),
        ("/v1/withdrawals", {"recipient": "0x12"}, "recipient"),
        ("/v1/withdrawals", {"recipient": RECIPIENT, "perPage": "0"}, "perPage"),
        ("/v1/withdrawals", {"recipient": RECIPIENT, "perPage": "1.5"}, "perPage"),
        ("/v1/withdrawals", {"recipient": RECIPIENT, "cursor": "abc"}, "cursor"),
        ("/v1/withdrawals", {"recipient": RECIPIENT, "cursor": "0x" + "ee" * 32}, "cursor"),
        ("/v1/withdrawals", {"recipient": RECIPIENT, "status": "success"}, "status"),
    ],
)
def test_bad_requests_are_400_in_the_envelope(client: TestClient, path: str, params: dict | None, field: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and [e["path"] for e in body["errors"]] == [field]


def test_an_unknown_withdrawal_is_404(client: TestClient) -> None:
    response = client.get(f"/v1/withdrawals/{'0x' + 'ab' * 32}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
