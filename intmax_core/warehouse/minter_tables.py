"""The `minter_actions` table: every ITX mint and transfer to Liquidity this pipeline decided to make.

One row per (action, period), written before the transaction is handed to the sender, so that a
crash between sending and recording is resumed by the next run (intmax_core.minting.executor).
"""

from __future__ import annotations

import enum

from sqlalchemy import CHAR, BigInteger, Column, DateTime, Index, String, Table, Text, UniqueConstraint

from intmax_core.warehouse.ledger import Id
from intmax_core.warehouse.schema import ADDRESS_LENGTH, HASH_LENGTH, metadata, moment_column
from intmax_core.warehouse.types import Uint256


class MinterActionStatus(enum.StrEnum):
    """pending -> done | failed (retryable: the next run resumes it) | parked (needs an operator)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    PARKED = "parked"


# A row in one of these is the current attempt at its period: the next run resumes it.
OPEN_STATUSES = (MinterActionStatus.PENDING.value, MinterActionStatus.FAILED.value, MinterActionStatus.PARKED.value)

minter_actions = Table(
    "minter_actions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True, comment="Row id."),
    Column("action", String(32), nullable=False, comment="'mint' (Minter.mint()) or 'transfer_to_liquidity'."),
    Column(
        "period_key",
        String(32),
        nullable=False,
        comment="UTC date (YYYY-MM-DD) the period became due; the ledger idempotency key (purpose minter_<action>).",
    ),
    Column("chain_id", BigInteger, nullable=False, comment="L1 chain id."),
    Column("minter", CHAR(ADDRESS_LENGTH), nullable=False, comment="Minter contract called (lowercase hex)."),
    Column("signer", CHAR(ADDRESS_LENGTH), nullable=False, comment="Token manager wallet that sends (index 4)."),
    Column("due_at", DateTime(timezone=True), nullable=False, comment="When the period became due (UTC)."),
    Column("decided_at", DateTime(timezone=True), nullable=False, comment="The run's clock when it decided to act."),
    Column(
        "previous_action_at",
        DateTime(timezone=True),
        nullable=True,
        comment="L1 block time of the previous action the period counts from; null for the first action.",
    ),
    Column("reason", Text, nullable=False, comment="Why the action was due, in words."),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="pending (handed to the sender, no final outcome yet) -> done, failed (retryable: the next run "
        "resumes it) or parked (a revert that needs an operator: intmax tx requeue minter_<action> <period_key>).",
    ),
    Column(
        "amount",
        Uint256(),
        nullable=True,
        comment="ITX base units (18 decimals): the amount requested (transfer), then the amount in the event "
        "once done.",
    ),
    Column("transaction_id", BigInteger, nullable=True, comment="The transaction ledger row (transactions.id)."),
    Column("tx_hash", CHAR(HASH_LENGTH), nullable=True, comment="L1 transaction (mined one once done)."),
    Column("block_number", BigInteger, nullable=True, comment="L1 block of the mined transaction; null until done."),
    Column(
        "block_time",
        DateTime(timezone=True),
        nullable=True,
        comment="L1 block time of the mined transaction (UTC); the next period counts from its UTC day.",
    ),
    Column("error", Text, nullable=True, comment="Why the action is failed or parked (decoded revert, node message)."),
    moment_column("created_at", "When the row was written (before sending)."),
    moment_column("updated_at", "When the row last changed."),
    UniqueConstraint("action", "period_key"),
    Index("ix_minter_actions_action_status", "action", "status"),
    comment="ITX mint and transfer-to-Liquidity actions of the token manager, one row per (action, period), "
    "with the transaction and its L1 block (intmax_core.minting).",
)
