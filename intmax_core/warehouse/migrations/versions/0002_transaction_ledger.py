"""The transaction ledger: `transactions` (one row per logical action) and `transaction_attempts`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What intmax_core.warehouse.types.Uint256 creates: exact NUMERIC(78,0), or a decimal string on SQLite.
UINT256 = sa.Numeric(precision=78, scale=0).with_variant(sa.String(length=78), "sqlite")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BYTES = sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("id", ID, autoincrement=True, nullable=False, comment="Ledger row id."),
        sa.Column(
            "purpose", sa.String(length=64), nullable=False, comment="What the transaction does, e.g. 'relay_deposits'."
        ),
        sa.Column(
            "idempotency_key",
            sa.String(length=200),
            nullable=False,
            comment="Identifies the logical action within its purpose (e.g. the last deposit id relayed).",
        ),
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id the transaction is for."),
        sa.Column("signer", sa.CHAR(length=42), nullable=False, comment="Sending address; lowercase 0x hex."),
        sa.Column(
            "nonce",
            sa.BigInteger(),
            nullable=True,
            comment="Nonce of the current attempts; null until one is assigned (never, if estimation reverted).",
        ),
        sa.Column("to_address", sa.CHAR(length=42), nullable=False, comment="Called contract; lowercase 0x hex."),
        sa.Column("value", UINT256, nullable=False, comment="Wei sent with the call (uint256, exact)."),
        sa.Column(
            "calldata_hash", sa.CHAR(length=66), nullable=False, comment="keccak256 of calldata; lowercase 0x hex."
        ),
        sa.Column("calldata", BYTES, nullable=False, comment="The call's input data."),
        sa.Column(
            "tx_hash", sa.CHAR(length=66), nullable=True, comment="Hash of the mined attempt, else of the latest one."
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sent",
                "confirmed",
                "settled",
                "reverted",
                "dropped",
                "failed",
                name="transaction_status",
                create_constraint=True,
            ),
            server_default="pending",
            nullable=False,
            comment="pending -> sent -> confirmed | settled | reverted | dropped | failed "
            "(see intmax_core.warehouse.ledger).",
        ),
        sa.Column(
            "attempts",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Attempts broadcast so far, all nonces.",
        ),
        sa.Column(
            "last_error",
            sa.Text(),
            nullable=True,
            comment="Latest error seen (node message or reason); never a secret.",
        ),
        sa.Column("error_selector", sa.CHAR(length=10), nullable=True, comment="4-byte selector of the revert data."),
        sa.Column(
            "error_name",
            sa.String(length=128),
            nullable=True,
            comment="Decoded revert: custom error name, 'Error' (string reason) or 'Panic'.",
        ),
        sa.Column("error_args", JSON, nullable=True, comment="Decoded revert arguments (uint256 as decimal strings)."),
        sa.Column(
            "tx_type", sa.SmallInteger(), nullable=True, comment="Type of the latest attempt: 0 legacy, 2 EIP-1559."
        ),
        sa.Column("gas_limit", sa.BigInteger(), nullable=True, comment="Gas limit of the latest attempt."),
        sa.Column("gas_price", UINT256, nullable=True, comment="Legacy gas price of the latest attempt (type 0)."),
        sa.Column("max_fee_per_gas", UINT256, nullable=True, comment="maxFeePerGas of the latest attempt (type 2)."),
        sa.Column(
            "max_priority_fee_per_gas",
            UINT256,
            nullable=True,
            comment="maxPriorityFeePerGas of the latest attempt (type 2).",
        ),
        sa.Column("block_number", sa.BigInteger(), nullable=True, comment="Block of the receipt, once mined."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=True, comment="Hash of that block; lowercase 0x hex."),
        sa.Column("gas_used", sa.BigInteger(), nullable=True, comment="Gas used, from the receipt."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the action was first requested.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row last changed.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("purpose", "idempotency_key", name=op.f("uq_transactions_purpose_idempotency_key")),
        comment="Every transaction the pipeline intends to send, recorded before it is broadcast; one row per action.",
    )
    op.create_index(
        "ix_transactions_chain_id_signer_nonce", "transactions", ["chain_id", "signer", "nonce"], unique=False
    )
    op.create_table(
        "transaction_attempts",
        sa.Column("id", ID, autoincrement=True, nullable=False, comment="Attempt row id."),
        sa.Column(
            "transaction_id",
            ID,
            nullable=False,
            comment="The ledger row (transactions.id) this attempt belongs to.",
        ),
        sa.Column("attempt", sa.Integer(), nullable=False, comment="0-based attempt number within the ledger row."),
        sa.Column("nonce", sa.BigInteger(), nullable=False, comment="Nonce signed into this attempt."),
        sa.Column(
            "tx_hash", sa.CHAR(length=66), nullable=False, comment="Hash of the signed transaction; lowercase 0x hex."
        ),
        sa.Column(
            "raw_transaction", BYTES, nullable=False, comment="The signed transaction, as broadcast (public data)."
        ),
        sa.Column("tx_type", sa.SmallInteger(), nullable=False, comment="0 legacy, 2 EIP-1559."),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False, comment="Gas limit."),
        sa.Column("gas_price", UINT256, nullable=True, comment="Legacy gas price (type 0)."),
        sa.Column("max_fee_per_gas", UINT256, nullable=True, comment="maxFeePerGas (type 2)."),
        sa.Column("max_priority_fee_per_gas", UINT256, nullable=True, comment="maxPriorityFeePerGas (type 2)."),
        sa.Column(
            "broadcast_error",
            sa.Text(),
            nullable=True,
            comment="The node's answer if eth_sendRawTransaction failed; null when it was accepted (or unknown).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the attempt was recorded (just before it was broadcast).",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_transaction_attempts_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_attempts")),
        sa.UniqueConstraint("transaction_id", "attempt", name=op.f("uq_transaction_attempts_transaction_id_attempt")),
        comment="Every signed transaction broadcast for a ledger row, so a crash can be reconciled with the chain.",
    )
    op.create_index("ix_transaction_attempts_tx_hash", "transaction_attempts", ["tx_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_transaction_attempts_tx_hash", table_name="transaction_attempts")
    op.drop_table("transaction_attempts")
    op.drop_index("ix_transactions_chain_id_signer_nonce", table_name="transactions")
    op.drop_table("transactions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS transaction_status")
