"""The `deposits` table: one row per deposit id with its lifecycle, derived from the event tables.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intmax_core.warehouse.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = sa.CHAR(length=66)


def upgrade() -> None:
    op.create_table(
        "deposits",
        sa.Column("deposit_id", sa.BigInteger(), nullable=False, comment="Liquidity deposit id (from 1)."),
        sa.Column(
            "depositor", sa.CHAR(length=42), nullable=False, comment="L1 address that deposited (lowercase hex)."
        ),
        sa.Column("recipient_salt_hash", HASH, nullable=False, comment="Opaque INTMAX recipient salt hash."),
        sa.Column("token_index", sa.BigInteger(), nullable=False, comment="Liquidity token index (0 = native ETH)."),
        sa.Column(
            "amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="Deposited amount in the token's base unit (exact uint256).",
        ),
        sa.Column("is_eligible", sa.Boolean(), nullable=False, comment="Whether the deposit is eligible for rewards."),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="pending -> relayed (a DepositsRelayed covers it) -> processed (its leaf is on L2), or canceled.",
        ),
        sa.Column("deposit_hash", HASH, nullable=False, comment="INTMAX2 deposit hash (docs/protocol.md §10.4)."),
        sa.Column("deposit_tx_hash", HASH, nullable=False, comment="L1 transaction that emitted Deposited."),
        sa.Column("deposit_block_number", sa.BigInteger(), nullable=False, comment="L1 block of the Deposited log."),
        sa.Column(
            "deposited_at", sa.DateTime(timezone=True), nullable=False, comment="L1 block time of the deposit (UTC)."
        ),
        sa.Column(
            "relay_up_to_deposit_id",
            sa.BigInteger(),
            nullable=True,
            comment="up_to_deposit_id of the first DepositsRelayed covering the deposit; null until relayed.",
        ),
        sa.Column("relay_tx_hash", HASH, nullable=True, comment="L1 transaction of that DepositsRelayed."),
        sa.Column("relay_block_number", sa.BigInteger(), nullable=True, comment="L1 block of that DepositsRelayed."),
        sa.Column(
            "relayed_at", sa.DateTime(timezone=True), nullable=True, comment="L1 block time of that DepositsRelayed."
        ),
        sa.Column("cancel_tx_hash", HASH, nullable=True, comment="L1 transaction of DepositCanceled, if any."),
        sa.Column(
            "cancel_block_number", sa.BigInteger(), nullable=True, comment="L1 block of DepositCanceled, if any."
        ),
        sa.Column(
            "processed_tx_hash",
            HASH,
            nullable=True,
            comment="L2 transaction of the DepositLeafInserted with this deposit hash; null until processed.",
        ),
        sa.Column(
            "processed_block_number", sa.BigInteger(), nullable=True, comment="L2 block of that DepositLeafInserted."
        ),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="L2 block time of that DepositLeafInserted.",
        ),
        sa.Column(
            "leaf_index", sa.BigInteger(), nullable=True, comment="Deposit tree leaf index (deposit_index, from 0)."
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row last changed.",
        ),
        sa.PrimaryKeyConstraint("deposit_id", name=op.f("pk_deposits")),
        comment="One row per deposit id with its lifecycle, derived from evt_deposited, evt_deposits_relayed, "
        "evt_deposit_canceled and evt_deposit_leaf_inserted (intmax_core.deposits).",
    )
    op.create_index("ix_deposits_status", "deposits", ["status"], unique=False)
    op.create_index("ix_deposits_deposit_hash", "deposits", ["deposit_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deposits_deposit_hash", table_name="deposits")
    op.drop_index("ix_deposits_status", table_name="deposits")
    op.drop_table("deposits")
