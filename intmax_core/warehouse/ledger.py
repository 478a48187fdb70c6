"""The transaction ledger: every transaction the pipeline intends to send, written before it is sent.

`transactions` holds one row per logical action, unique by (purpose, idempotency_key). Its
status moves:

    pending   row written; not broadcast yet (or estimating gas)
    sent      at least one attempt broadcast; no final receipt yet (or the receipt could not be
              read: the outcome is unknown, and the next `send` of the key reconciles again)
    confirmed mined with status 1, at the required confirmation depth, in a canonical block
    settled   the chain already reflects the action: a revert its purpose declared "already done"
              (e.g. "Message was already successfully executed"), at estimation or on chain
    failed    retryable: gave up for now (max attempts, a node rejection, a revert its purpose
              declared "may succeed later"); the next `send` of the key reconciles first (its
              attempts may still be mined: the row keeps its nonce reserved meanwhile), then tries
              again. `nonce` is null when the row's transaction was mined and reverted: the next
              try needs a new one
    parked    will not succeed as it is (a revert not declared "already done" or "may succeed
              later", a mined transaction whose effect failed, e.g. FailedRelayedMessage):
              `send` returns it unchanged and queues skip it; an operator re-queues it
              (`intmax tx requeue`), which makes it `failed` again
    dropped   none of its attempts was mined and another transaction positively took its nonce;
              the next `send` of the key starts over with a new nonce
    reverted  written before revision 0005 (reverted at estimation or mined with status 0); final.
              New rows are `settled`, `failed` or `parked` instead

`transaction_attempts` keeps every signed transaction ever broadcast for a row. After a crash
any of them may be the one mined (a replacement may lose to the original), so reconciliation
looks up all of them.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    CHAR,
    BigInteger,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from intmax_core.warehouse.schema import ADDRESS_LENGTH, HASH_LENGTH, Bytes, Json, metadata, moment_column
from intmax_core.warehouse.types import Uint256

SELECTOR_LENGTH = 10  # "0x" + 8 hex characters
STATUS_COMMENT = (
    "pending -> sent -> confirmed | settled | failed (retryable) | parked (needs an operator) | dropped; "
    "reverted only on rows written before revision 0005 (see intmax_core.warehouse.ledger)."
)
NONCE_COMMENT = (
    "Nonce of the current attempts, set while they may still be mined; null before the first attempt, "
    "once another transaction took it (dropped), or once its own transaction reverted and a retry needs a new one."
)
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
Id = BigInteger().with_variant(Integer(), "sqlite")


class TransactionStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"
    SETTLED = "settled"
    REVERTED = "reverted"
    DROPPED = "dropped"
    FAILED = "failed"
    PARKED = "parked"


transactions = Table(
    "transactions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True, comment="Ledger row id."),
    Column("purpose", String(64), nullable=False, comment="What the transaction does, e.g. 'relay_deposits'."),
    Column(
        "idempotency_key",
        String(200),
        nullable=False,
        comment="Identifies the logical action within its purpose (e.g. the last deposit id relayed).",
    ),
    Column("chain_id", BigInteger, nullable=False, comment="EVM chain id the transaction is for."),
    Column("signer", CHAR(ADDRESS_LENGTH), nullable=False, comment="Sending address; lowercase 0x hex."),
    Column(
        "nonce",
        BigInteger,
        nullable=True,
        comment=NONCE_COMMENT,
    ),
    Column("to_address", CHAR(ADDRESS_LENGTH), nullable=False, comment="Called contract; lowercase 0x hex."),
    Column("value", Uint256, nullable=False, comment="Wei sent with the call (uint256, exact)."),
    Column("calldata_hash", CHAR(HASH_LENGTH), nullable=False, comment="keccak256 of calldata; lowercase 0x hex."),
    Column("calldata", Bytes, nullable=False, comment="The call's input data."),
    Column("tx_hash", CHAR(HASH_LENGTH), nullable=True, comment="Hash of the mined attempt, else of the latest one."),
    Column(
        "status",
        Enum(
            TransactionStatus,
            name="transaction_status",
            values_callable=lambda statuses: [s.value for s in statuses],
            create_constraint=True,
        ),
        nullable=False,
        server_default=TransactionStatus.PENDING.value,
        comment=STATUS_COMMENT,
    ),
    Column("attempts", Integer, nullable=False, server_default="0", comment="Attempts broadcast so far, all nonces."),
    Column(
        "parked_reason",
        Text,
        nullable=True,
        comment="Why the row is parked (decoded revert, failed effect); cleared when re-queued.",
    ),
    Column("last_error", Text, nullable=True, comment="Latest error seen (node message or reason); never a secret."),
    Column("error_selector", CHAR(SELECTOR_LENGTH), nullable=True, comment="4-byte selector of the revert data."),
    Column(
        "error_name",
        String(128),
        nullable=True,
        comment="Decoded revert: custom error name, 'Error' (string reason) or 'Panic'.",
    ),
    Column("error_args", Json, nullable=True, comment="Decoded revert arguments (uint256 as decimal strings)."),
    Column("tx_type", SmallInteger, nullable=True, comment="Type of the latest attempt: 0 legacy, 2 EIP-1559."),
    Column("gas_limit", BigInteger, nullable=True, comment="Gas limit of the latest attempt."),
    Column("gas_price", Uint256, nullable=True, comment="Legacy gas price of the latest attempt (type 0)."),
    Column("max_fee_per_gas", Uint256, nullable=True, comment="maxFeePerGas of the latest attempt (type 2)."),
    Column(
        "max_priority_fee_per_gas",
        Uint256,
        nullable=True,
        comment="maxPriorityFeePerGas of the latest attempt (type 2).",
    ),
    Column("block_number", BigInteger, nullable=True, comment="Block of the receipt, once mined."),
    Column("block_hash", CHAR(HASH_LENGTH), nullable=True, comment="Hash of that block; lowercase 0x hex."),
    Column("gas_used", BigInteger, nullable=True, comment="Gas used, from the receipt."),
    moment_column("created_at", "When the action was first requested."),
    moment_column("updated_at", "When the row last changed."),
    UniqueConstraint("purpose", "idempotency_key"),
    Index("ix_transactions_chain_id_signer_nonce", "chain_id", "signer", "nonce"),
    comment="Every transaction the pipeline intends to send, recorded before it is broadcast; one row per action.",
)

transaction_attempts = Table(
    "transaction_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True, comment="Attempt row id."),
    Column(
        "transaction_id",
        Id,
        ForeignKey("transactions.id", ondelete="CASCADE"),
        nullable=False,
        comment="The ledger row (transactions.id) this attempt belongs to.",
    ),
    Column("attempt", Integer, nullable=False, comment="0-based attempt number within the ledger row."),
    Column("nonce", BigInteger, nullable=False, comment="Nonce signed into this attempt."),
    Column("tx_hash", CHAR(HASH_LENGTH), nullable=False, comment="Hash of the signed transaction; lowercase 0x hex."),
    Column("raw_transaction", Bytes, nullable=False, comment="The signed transaction, as broadcast (public data)."),
    Column("tx_type", SmallInteger, nullable=False, comment="0 legacy, 2 EIP-1559."),
    Column("gas_limit", BigInteger, nullable=False, comment="Gas limit."),
    Column("gas_price", Uint256, nullable=True, comment="Legacy gas price (type 0)."),
    Column("max_fee_per_gas", Uint256, nullable=True, comment="maxFeePerGas (type 2)."),
    Column("max_priority_fee_per_gas", Uint256, nullable=True, comment="maxPriorityFeePerGas (type 2)."),
    Column(
        "broadcast_block",
        BigInteger,
        nullable=True,
        comment="Latest block seen just before the broadcast; where a search for the nonce's use starts.",
    ),
    Column(
        "broadcast_error",
        Text,
        nullable=True,
        comment="The node's answer if eth_sendRawTransaction failed; null when it was accepted (or unknown).",
    ),
    moment_column("created_at", "When the attempt was recorded (just before it was broadcast)."),
    UniqueConstraint("transaction_id", "attempt"),
    Index("ix_transaction_attempts_tx_hash", "tx_hash"),
    comment="Every signed transaction broadcast for a ledger row, so a crash can be reconciled with the chain.",
)
