"""Warehouse migrations on SQLite and PostgreSQL, and the production `withdrawals` schema."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import WithdrawalStatus, metadata, withdrawals
from tests.conftest import PROJECT_ROOT

WITHDRAWAL = {
    "withdrawal_hash": "0x" + "ab" * 32,
    "pubkey": "0x" + "01" * 32,
    "recipient": "0x" + "cd" * 20,
    "contract_withdrawal": {
        "recipient": "0x" + "cd" * 20,
        "tokenIndex": 3,
        "amount": str(2**255 + 7),
        "nullifier": "0x" + "ee" * 32,
    },
    "single_withdrawal_proof": b"\x00\x01proof\xff",
}


def test_upgrade_creates_schema_then_is_a_no_op(warehouse_url: str) -> None:
    assert migrate.current_revision(warehouse_url) is None
    before, after = migrate.upgrade(warehouse_url)
    assert (before, after) == (None, migrate.head_revision())
    assert migrate.upgrade(warehouse_url) == (after, after)
    migrate.check(warehouse_url)  # raises if the schema module and the migrations drifted apart
    tables = set(inspect(make_engine(warehouse_url)).get_table_names())
    assert set(metadata.tables) <= tables


def test_downgrade_to_base_and_back(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    from alembic import command

    command.downgrade(migrate.alembic_config(warehouse_url), "base")
    assert not set(metadata.tables) & set(inspect(make_engine(warehouse_url)).get_table_names())
    migrate.upgrade(warehouse_url)
    migrate.check(warehouse_url)


def test_withdrawal_round_trip_and_status_enum(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        connection.execute(insert(withdrawals).values(**WITHDRAWAL))
        row = connection.execute(select(withdrawals)).mappings().one()
    assert row["status"] == WithdrawalStatus.REQUESTED  # the server default
    assert row["contract_withdrawal"] == WITHDRAWAL["contract_withdrawal"]  # uint256 kept exact as a string
    assert row["single_withdrawal_proof"] == WITHDRAWAL["single_withdrawal_proof"]
    assert row["created_at"] is not None
    with pytest.raises((IntegrityError, StatementError)), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO withdrawals (withdrawal_hash, status, pubkey, recipient, contract_withdrawal) "
                "VALUES (:h, 'bogus', :p, :r, '{}')"
            ),
            {"h": "0x" + "11" * 32, "p": WITHDRAWAL["pubkey"], "r": WITHDRAWAL["recipient"]},
        )
    # Many withdrawals per owner and recipient: the indexes must not be unique.
    with engine.begin() as connection:
        connection.execute(insert(withdrawals).values(**{**WITHDRAWAL, "withdrawal_hash": "0x" + "ac" * 32}))
        assert connection.execute(select(withdrawals)).all().__len__() == 2


def test_withdrawals_match_the_production_schema_on_postgres(postgres_url: str) -> None:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        columns = {
            row.column_name: row
            for row in connection.execute(
                text(
                    "SELECT column_name, data_type, udt_name, character_maximum_length, is_nullable, column_default "
                    "FROM information_schema.columns WHERE table_name = 'withdrawals'"
                )
            )
        }
        enum_values = (
            connection.execute(
                text(
                    "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                    "WHERE t.typname = 'withdrawal_status' ORDER BY e.enumsortorder"
                )
            )
            .scalars()
            .all()
        )
        indexes = dict(
            connection.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'withdrawals'")).all()
        )
        primary_key = (
            connection.execute(
                text(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'withdrawals'::regclass AND i.indisprimary"
                )
            )
            .scalars()
            .all()
        )
        comments = connection.execute(
            text(
                "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
                "WHERE a.attrelid = 'withdrawals'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
            )
        ).all()
        table_comment = connection.execute(text("SELECT obj_description('withdrawals'::regclass)")).scalar()

    expected = {
        # column: (data_type, udt_name, length, nullable)
        "withdrawal_hash": ("character", "bpchar", 66, "NO"),
        "status": ("USER-DEFINED", "withdrawal_status", None, "NO"),
        "pubkey": ("character", "bpchar", 66, "NO"),
        "recipient": ("character", "bpchar", 42, "NO"),
        "contract_withdrawal": ("jsonb", "jsonb", None, "NO"),
        "single_withdrawal_proof": ("bytea", "bytea", None, "YES"),
        "l1_tx_hash": ("character", "bpchar", 66, "YES"),
        "created_at": ("timestamp with time zone", "timestamptz", None, "NO"),
    }
    actual = {name: (c.data_type, c.udt_name, c.character_maximum_length, c.is_nullable) for name, c in columns.items()}
    assert actual == expected
    assert columns["status"].column_default == "'requested'::withdrawal_status"
    assert columns["created_at"].column_default == "now()"
    assert enum_values == ["requested", "relayed", "success", "need_claim", "failed"]
    assert primary_key == ["withdrawal_hash"]
    for name, column in (("idx_withdrawals_pubkey", "pubkey"), ("idx_withdrawals_recipient", "recipient")):
        assert name in indexes
        assert "UNIQUE" not in indexes[name] and f"({column})" in indexes[name]
    assert all(comment for _, comment in comments), comments
    assert table_comment


def _cli(*args: str, database_url: str, executable: str = "intmax") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    env["INTMAX_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "intmax_cli.main", *args] if executable == "intmax" else [executable, *args]
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_cli_upgrade_and_alembic_check(warehouse_url: str) -> None:
    first = _cli("db", "upgrade", database_url=warehouse_url)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty" in first.stdout
    second = _cli("db", "upgrade", database_url=warehouse_url)
    assert second.returncode == 0 and "already at revision" in second.stdout
    check = _cli("check", database_url=warehouse_url, executable=str(PROJECT_ROOT / ".venv" / "bin" / "alembic"))
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    assert "password" not in first.stdout.lower()


def test_counter_columns_become_integers_that_plain_literals_find(warehouse_url: str) -> None:
    """Rows written before 0004 (uint256: zero-padded text on SQLite) keep their values as BIGINT,
    and `WHERE deposit_id = 1` finds them on both backends (it found nothing on SQLite before)."""
    migrate.upgrade(warehouse_url, "0003")
    engine = make_engine(warehouse_url)
    padded = warehouse_url.startswith("sqlite")
    with engine.begin() as connection:
        for deposit_id in (1, 2, 10):
            connection.execute(
                text(
                    "INSERT INTO evt_deposit_canceled (chain_id, block_number, log_index, block_hash, block_time, "
                    "tx_hash, address, deposit_id) VALUES (1, :block, 0, :hash, CURRENT_TIMESTAMP, :hash, :address, "
                    ":deposit_id)"
                ),
                {
                    "block": deposit_id,
                    "hash": "0x" + "11" * 32,
                    "address": "0x" + "22" * 20,
                    "deposit_id": str(deposit_id).zfill(78) if padded else deposit_id,
                },
            )
    engine.dispose()
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT block_number FROM evt_deposit_canceled WHERE deposit_id = 1")).all()
        ordered = connection.execute(text("SELECT deposit_id FROM evt_deposit_canceled ORDER BY deposit_id")).all()
    engine.dispose()
    assert found == [(1,)]
    assert [row[0] for row in ordered] == [1, 2, 10]
