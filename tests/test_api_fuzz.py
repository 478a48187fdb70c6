"""Schemathesis over every route of the OpenAPI, against the real app (`create_app`) with real Redis,
a migrated PostgreSQL warehouse holding a few rows of every kind, and the Predicate stand-in behind
the predicate route: schema-valid and schema-violating (negative) inputs alike must never get a 5xx,
every response must match what the OpenAPI declares, every error must be the envelope
(`{"code", "message"}`), and no configured secret may appear in any response body or header."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.core.transport import Response
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import insert

from intmax_api.app import create_app
from intmax_core.config import load_settings
from intmax_core.devnet_manifest import PREDICATE_TASK_PATH
from intmax_core.warehouse import migrate
from intmax_core.warehouse.builders_tables import block_builders
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import withdrawals
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, token_maps, token_prices
from intmax_core.warehouse.txmap_tables import tx_maps
from intmax_devnet.predicate import PredicateStandIn, start_standin
from tests.conftest import create_postgres_database, drop_postgres_database, require_redis
from tests.deposit_rows import insert_deposits

pytestmark = pytest.mark.xdist_group("fuzz")

# Distinctive values, so that any of them showing up in an answer is unmistakable.
SECRETS = {
    "api_key": "fuzz-api-key-5c1e9d0a7b",
    "predicate_api_key": "fuzz-predicate-key-83f2a6c4d1",
    "proxy_frp_token": "fuzz-frp-token-2b7e4f9c06",
    "alert_webhook_url": "https://discord.example/api/webhooks/424242/fuzz-webhook-9d3a1c7e55",
    "coingecko_api_key": "fuzz-coingecko-key-6a0f3e8b2d",
}
MAX_EXAMPLES = 25
ALICE = "0x" + "a1" * 20
BUILDER = "0x" + "b7" * 20
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _seed(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
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
                },
                {
                    "token_index": 1,
                    "token_type": 1,
                    "contract_address": "0x" + "11" * 20,
                    "token_id": 0,
                    "symbol": "ITX",
                    "decimals": 18,
                    "resolved_at": T0,
                },
            ],
        )
        connection.execute(
            insert(token_prices),
            [
                {
                    "coingecko_id": "ethereum",
                    "symbol": "eth",
                    "contract_address": ZERO_ADDRESS,
                    "decimals": 18,
                    "price_usd": 3000.5,
                    "image": "https://img.example/eth.png",
                    "list_position": 0,
                    "synced_at": T0,
                }
            ],
        )
        connection.execute(
            insert(withdrawals).values(
                withdrawal_hash=_hash(1),
                status="requested",
                pubkey=_hash(2),
                recipient=ALICE,
                contract_withdrawal={"recipient": ALICE, "tokenIndex": 0, "amount": "5", "nullifier": _hash(3)},
                single_withdrawal_proof=b"proof",
                created_at=T0,
            )
        )
        connection.execute(
            insert(block_builders).values(
                address=BUILDER,
                url="https://builder.example",
                chain_id=31338,
                heartbeat_block_number=5,
                heartbeat_log_index=0,
                heartbeat_tx_hash=_hash(7),
                last_synced_at=datetime.now(UTC),
                active=True,
                checked_at=datetime.now(UTC),
            )
        )
        connection.execute(
            insert(tx_maps).values(
                digest="fuzz-digest", data="0xdata", expires_at=datetime.now(UTC) + timedelta(days=1)
            )
        )
    engine.dispose()
    insert_deposits(url, ["processed", "pending"])


@pytest.fixture(scope="module")
def predicate_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PredicateStandIn]:
    process = start_standin(SECRETS["predicate_api_key"], log_path=tmp_path_factory.mktemp("fuzz") / "predicate.log")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fuzz_app(predicate_standin: PredicateStandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app under test: real Redis, a seeded PostgreSQL warehouse, the Predicate stand-in."""
    url = create_postgres_database()
    migrate.upgrade(url)
    _seed(url)
    app = create_app(
        load_settings(
            data_dir=tmp_path_factory.mktemp("fuzz-data"),
            database_url=url,
            redis_url=require_redis(),
            predicate_api_url=f"{predicate_standin.url}{PREDICATE_TASK_PATH}",
            **SECRETS,
        )
    )
    yield app
    asgi.shutdown_lifespans()  # the lifespan schemathesis started: Redis clients, engine, Predicate client
    drop_postgres_database(url)


def _openapi() -> dict[str, Any]:
    # The OpenAPI is the code's, whatever the settings: an app that connects to nothing gives it at
    # collection time (pytest-9 breaks schemathesis' fixture-based loader), and
    # test_the_served_openapi_is_the_one_fuzzed checks that the app under test serves the same.
    offline = load_settings(database_url="sqlite://", redis_url="redis://127.0.0.1:1/0")
    return create_app(offline).openapi()


schema = schemathesis.openapi.from_dict(_openapi())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES)


def _no_secret(response: Response) -> None:
    seen = response.text + "\n" + json.dumps(dict(response.headers))
    for name, value in SECRETS.items():
        assert value not in seen, f"the configured {name} appears in a response"


def _enveloped_if_error(response: Response) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("message"), str), (
        f"{response.status_code} is not the error envelope: {response.text[:300]}"
    )


# Schema-valid requests the API rightly refuses with 400 for reasons no JSON Schema can state; only
# the "schema-valid data is accepted" check is skipped for them (every other check still runs).
SEMANTIC_REFUSALS = {
    "POST /v1/predicate/evaluate-policy": "the Predicate API judges data and msg_value; its 400 is passed on",
    "GET /v1/withdrawals": "a cursor must be a withdrawal hash of this very recipient",
}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_route_survives_fuzzing(case: Case, fuzz_app: FastAPI) -> None:
    # The API key exempts the fuzzer from the rate limit (no 429s) and is itself a secret to look for.
    excluded = [positive_data_acceptance] if case.operation.label in SEMANTIC_REFUSALS else []
    response = case.call_and_validate(app=fuzz_app, headers={"X-API-KEY": SECRETS["api_key"]}, excluded_checks=excluded)
    _no_secret(response)
    _enveloped_if_error(response)


def test_the_served_openapi_is_the_one_fuzzed(fuzz_app: FastAPI) -> None:
    # The fuzzed schema is built at collection time from an app that connects to nothing: were the
    # OpenAPI to depend on settings (a route only mounted when configured, say), the fuzzer would
    # silently miss what the real app serves.
    assert fuzz_app.openapi() == _openapi()
    # Every operation of the OpenAPI is one schemathesis could load (an Err here is a route it skips).
    served = {f"{method.upper()} {path}" for path, operations in _openapi()["paths"].items() for method in operations}
    fuzzed = {result.ok().label for result in schema.get_all_operations()}
    assert fuzzed == served
    assert "POST /v1/predicate/evaluate-policy" in fuzzed and "GET /v1/withdrawals" in fuzzed


def test_the_openapi_declares_the_envelope_not_fastapis_422() -> None:
    # Validation errors are 400 in the envelope: an OpenAPI still promising FastAPI's 422
    # `{"detail": ...}` would mislead every generated client (and the fuzzer's conformance check).
    document = _openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], f"{method.upper()} {path} declares a 422"
            for status in ("429", "500", "503", "504"):
                assert status in operation["responses"], f"{method.upper()} {path} lacks {status}"
