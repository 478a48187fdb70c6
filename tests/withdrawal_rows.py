"""Rows for withdrawal tests: withdrawal requests as the withdrawal-server writes them, and indexed
event rows as the indexer writes them (the watcher and collector read only the warehouse)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CHAR, BigInteger, Boolean, Connection, DateTime, Integer, LargeBinary, insert

from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.schema import withdrawals
from intmax_core.warehouse.types import Uint256


def withdrawal_hash(i: int) -> str:
    return "0x" + f"{i:064x}"


def request(connection: Connection, i: int, created_at: datetime, status: str = "requested") -> str:
    h = withdrawal_hash(i)
    connection.execute(
        insert(withdrawals).values(
            withdrawal_hash=h,
            status=status,
            pubkey="0x" + "01" * 32,
            recipient="0x" + "02" * 20,
            contract_withdrawal={"recipient": "0x" + "02" * 20, "tokenIndex": 0, "amount": "1", "nullifier": h},
            single_withdrawal_proof=b"proof",
            created_at=created_at,
        )
    )
    return h


def _filler(column: Any) -> Any:
    kind = column.type
    if isinstance(kind, CHAR):
        return "0x" + "0" * (kind.length - 2)
    if isinstance(kind, Uint256 | BigInteger | Integer):
        return 0
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, DateTime):
        return datetime(2026, 1, 1, tzinfo=UTC)
    if isinstance(kind, LargeBinary):
        return b""
    return None


def event(connection: Connection, name: str, block: int, log_index: int, tx_hash: str, **values: Any) -> None:
    """An indexed event row of `name` (EVENT_TABLES), every column not given filled with a placeholder."""
    table = EVENT_TABLES[name]
    row = {c.name: _filler(c) for c in table.columns}
    row |= {"chain_id": 1, "block_number": block, "log_index": log_index, "tx_hash": tx_hash, **values}
    connection.execute(insert(table).values(**row))
