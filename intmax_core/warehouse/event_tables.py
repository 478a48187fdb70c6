"""Typed tables of indexed chain events, one per event type, generated from the event catalog.

Every row is keyed by (chain_id, block_number, log_index) and carries the block hash (to detect
reorgs), the transaction hash, the block time and the emitting contract, then the event's own
fields with exact types: uint256 exact (NUMERIC(78,0) on PostgreSQL), addresses and hashes as
lowercase 0x hex, `bytes` as raw bytes.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    and_,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from intmax_core.chain.events import ALL_EVENTS, EventSpec
from intmax_core.warehouse.schema import ADDRESS_LENGTH, HASH_LENGTH, Bytes, metadata
from intmax_core.warehouse.types import Uint256

# Columns analysts look events up by; each gets a (non-unique) index where an event has it.
LOOKUP_COLUMNS = ("deposit_id", "up_to_deposit_id", "withdrawal_hash", "block_builder", "deposit_hash")
# uint256 fields that count something (ids, nonces, INTMAX block numbers, unix times): the contracts
# increment them one by one, so they stay far below 2^63 and are stored as plain BIGINT, which
# analysts compare with ordinary literals (`WHERE deposit_id = 1`) on both backends. A value past
# 2^63 would fail the chunk's insert loudly rather than be stored wrong. Amounts stay exact uint256.
COUNTER_COLUMNS = frozenset(
    {
        "deposit_id",
        "up_to_deposit_id",
        "last_processed_deposit_id",
        "message_nonce",
        "intmax_block_number",
        "deposited_at",
    }
)


def column_type(abi_type: str, column: str = "") -> TypeEngine:
    if abi_type == "address":
        return CHAR(ADDRESS_LENGTH)
    if abi_type == "bytes32":
        return CHAR(HASH_LENGTH)
    if abi_type == "uint256":
        return BigInteger() if column in COUNTER_COLUMNS else Uint256()
    if abi_type in ("uint8", "uint16", "uint32", "uint64"):
        return BigInteger()
    if abi_type == "bool":
        return Boolean()
    if abi_type == "bytes":
        return Bytes
    if abi_type == "string":
        return Text()
    raise ValueError(f"no column type for {abi_type}")


def _event_table(event: EventSpec) -> Table:
    columns = [
        Column("chain_id", BigInteger, nullable=False, comment="EVM chain id."),
        Column("block_number", BigInteger, nullable=False, comment="Block that contains the log."),
        Column("log_index", Integer, nullable=False, comment="Position of the log in its block."),
        Column("block_hash", CHAR(HASH_LENGTH), nullable=False, comment="Hash of block_number when indexed."),
        Column("block_time", DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        Column("tx_hash", CHAR(HASH_LENGTH), nullable=False, comment="Transaction that emitted the log."),
        Column("address", CHAR(ADDRESS_LENGTH), nullable=False, comment="Contract that emitted the log."),
    ]
    for field in event.fields:
        where = "topic" if field.indexed else "data"
        columns.append(
            Column(
                field.column,
                column_type(field.abi_type, field.column),
                nullable=False,
                comment=f"{event.name} field ({field.abi_type}, from the log {where}).",
            )
        )
    indexes = [
        Index(f"ix_{event.table}_{field.column}", field.column)
        for field in event.fields
        if field.column in LOOKUP_COLUMNS
    ]
    return Table(
        event.table,
        metadata,
        *columns,
        PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
        *indexes,
        comment=f"Indexed `{event.declaration}` logs (topic0 {event.topic0}).",
    )


EVENT_TABLES: dict[str, Table] = {event.name: _event_table(event) for event in ALL_EVENTS}


def emitted_by(table: Table, chain_id: int, address: str) -> ColumnElement[bool]:
    """The rows of `table` a stream owns: logs of its contract `address` on `chain_id`."""
    return and_(table.c.chain_id == chain_id, table.c.address == address)
