"""The event catalog: topic0s equal the real contracts', the bulk decoder equals eth_abi on every
event type, and the bulk insert stores exactly what SQLAlchemy reads back, on both backends."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import psycopg2
import pytest
from eth_abi import encode
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from intmax_core.chain.events import ALL_EVENTS, EventSpec
from intmax_core.indexing.bulk_insert import insert_rows
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.event_tables import COUNTER_COLUMNS, EVENT_TABLES

# topic0 of every indexed event, as docs/protocol.md §7.1 lists them (current source).
REAL_TOPIC0 = {
    "Deposited": "0x1061e9784cdd951f4cbc394956165b3a94cf872a3afda95fc76b55cefb35cc51",
    "DepositsRelayed": "0x71df2a50f3ab1563277a27043770eb570eeaa3fc42ef76c607cdc667a82d03a4",
    "DepositCanceled": "0x0c1c0787650562778c282502dfd6dcea2fb79d23783920aa18aee36b4aa3dc48",
    "WithdrawalClaimable": "0xd63a18c6858559d79659151118b33c6ad7cf4f7735b64fe9dbd85c509e11a117",
    "DirectWithdrawalSuccessed": "0x6a65a945f1306f9bb3d4e3ce63aa367de6976a375de002492404554392c2460e",
    "DirectWithdrawalFailed": "0xedf8120f63daf877f6cb9aa7a3e21724c4532681d4afd77a45561904f1a04599",
    "ClaimedWithdrawal": "0x0575467d13f5ab9174f470cec96623374b05cf4b19a3c83a4bfca523e243ab04",
    "SentMessage": "0x104371f3b442861a2a7b82a070afbbaab748bb13757bf47769e170e37809ec1e",
    "Minted": "0x176b02bb2d12439ff7a20b59f402cca16c76f50508b13ef3166a600eb719354a",
    "TransferredToLiquidity": "0x8273dcd202b30d46ae419270b79ac1ec0503fa8973c856f53796e0bbafa2b1cc",
    "BlockPosted": "0x28857582f627ebec65097e573daaa05604c35030fabadc548b80d1eec929d601",
    "DepositsProcessed": "0x598fdeda3e3b7298359a08c9a438151e3481bdcf3c3ff9906fa71dcc723617b0",
    "DepositLeafInserted": "0x529a1f0fdd7142aabe2b12dd8590a30a26c8427b5200ad8c775a5b4aa03fb41d",
    "DirectWithdrawalQueued": "0xdbe674c66915823ad8cb90cac7eb482e951adec0311c9cf091da19de527ee935",
    "ClaimableWithdrawalQueued": "0x740137a4fd93de42bb435842325e4fad55ea4ba617db0b44125377b94b43249d",
    "BlockBuilderHeartbeat": "0x67981767cba56b93db9acb6becc4635fc1177e7837379bdd332bbcae78a55505",
}


def test_topic0_of_every_indexed_event_is_the_real_one() -> None:
    assert {event.name: event.topic0 for event in ALL_EVENTS} == REAL_TOPIC0


def _random_value(rng: random.Random, abi_type: str):  # type: ignore[no-untyped-def]
    if abi_type == "address":
        return "0x" + rng.randbytes(20).hex()
    if abi_type == "bytes32":
        return "0x" + rng.randbytes(32).hex()
    if abi_type == "bool":
        return rng.random() < 0.5
    if abi_type == "bytes":
        return rng.randbytes(rng.randint(0, 300))
    if abi_type == "string":
        return "".join(rng.choice("ab\tc\\d\ne/:é") for _ in range(rng.randint(1, 40)))
    bits = int(abi_type[4:])
    return rng.choice([0, 1, 2**bits - 1, rng.getrandbits(bits)])


def _encode_word(abi_type: str, value) -> str:  # type: ignore[no-untyped-def]
    return "0x" + encode([abi_type], [bytes.fromhex(value[2:]) if abi_type == "bytes32" else value]).hex()


def _log(event: EventSpec, values: list) -> dict:  # type: ignore[type-arg]
    """A raw log as a node returns it, built with eth_abi (independently of the decoder)."""
    indexed = [(f.abi_type, v) for f, v in zip(event.fields, values, strict=True) if f.indexed]
    data_fields = [(f.abi_type, v) for f, v in zip(event.fields, values, strict=True) if not f.indexed]
    data_values = [bytes.fromhex(v[2:]) if t == "bytes32" else v for t, v in data_fields]
    return {
        "topics": [event.topic0, *(_encode_word(t, v) for t, v in indexed)],
        "data": "0x" + encode([t for t, _ in data_fields], data_values).hex(),
    }


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.name)
def test_bulk_decoder_equals_eth_abi(event: EventSpec) -> None:
    rng = random.Random(event.name)
    for _ in range(50):
        values = [_random_value(rng, f.abi_type) for f in event.fields]
        assert list(event.values(_log(event, values))) == values
        assert event.decode(_log(event, values)) == {f.column: v for f, v in zip(event.fields, values, strict=True)}


@pytest.mark.parametrize("name", ["Deposited", "DepositsRelayed", "BlockBuilderHeartbeat", "DirectWithdrawalFailed"])
def test_bulk_insert_round_trips_through_sqlalchemy(warehouse_url: str, name: str) -> None:
    migrate.upgrade(warehouse_url)
    table = EVENT_TABLES[name]
    event = next(e for e in ALL_EVENTS if e.name == name)
    rng = random.Random(name)
    moments = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)]
    rows = []
    for i in range(40):
        # Counter columns are BIGINT: their values span 0 .. 2^63 - 1 (the contracts count one by one).
        values = [_random_value(rng, "uint63" if f.column in COUNTER_COLUMNS else f.abi_type) for f in event.fields]
        common = (
            31337,
            100 + i // 3,
            i % 3,
            "0x" + rng.randbytes(32).hex(),
            moments[i % 2],
            "0x" + "ab" * 32,
            "0x" + "cd" * 20,
        )
        rows.append((*common, *values))
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        insert_rows(connection, table, rows)
    with engine.connect() as connection:
        stored = connection.execute(select(table).order_by(table.c.block_number, table.c.log_index)).all()
    normalized = [
        tuple(v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v for v in row)
        for row in stored
    ]
    assert normalized == rows


def test_a_counter_beyond_bigint_fails_the_insert_loudly(warehouse_url: str) -> None:
    """A deposit id past 2^63 - 1 is refused, never stored wrong (truncated, wrapped or as a float)."""
    migrate.upgrade(warehouse_url)
    table = EVENT_TABLES["DepositCanceled"]
    row = (31337, 1, 0, "0x" + "11" * 32, datetime(2026, 1, 1, tzinfo=UTC), "0x" + "ab" * 32, "0x" + "cd" * 20, 2**63)
    engine = make_engine(warehouse_url)
    # sqlite3 refuses the Python int (OverflowError); PostgreSQL's COPY refuses the text (raw driver error).
    with pytest.raises((OverflowError, DBAPIError, psycopg2.DataError)), engine.begin() as connection:
        insert_rows(connection, table, [row])
    with engine.connect() as connection:
        assert connection.execute(select(table)).all() == []
    engine.dispose()
