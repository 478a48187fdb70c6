"""The minter_actions table: ITX mint and transfer-to-Liquidity actions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intmax_core.warehouse.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HASH = sa.CHAR(length=66)
ADDRESS = sa.CHAR(length=42)
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "minter_actions",
        sa.Column("id", ID, autoincrement=True, nullable=False, comment="Row id."),
        sa.Column(
            "action",
            sa.String(length=32),
            nullable=False,
            comment="'mint' (Minter.mint()) or 'transfer_to_liquidity'.",
        ),
        sa.Column(
            "period_key",
            sa.String(length=32),
            nullable=False,
            comment="UTC date (YYYY-MM-DD) the period became due; the ledger idempotency key "
            "(purpose minter_<action>).",
        ),
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="L1 chain id."),
        sa.Column("minter", ADDRESS, nullable=False, comment="Minter contract called (lowercase hex)."),
        sa.Column("signer", ADDRESS, nullable=False, comment="Token manager wallet that sends (index 4)."),
        sa.Column("due_at", MOMENT, nullable=False, comment="When the period became due (UTC)."),
        sa.Column("decided_at", MOMENT, nullable=False, comment="The run's clock when it decided to act."),
        sa.Column(
            "previous_action_at",
            MOMENT,
            nullable=True,
            comment="L1 block time of the previous action the period counts from; null for the first action.",
        ),
        sa.Column("reason", sa.Text(), nullable=False, comment="Why the action was due, in words."),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="pending (handed to the sender, no final outcome yet) -> done, failed (retryable: the next run "
            "resumes it) or parked (a revert that needs an operator: intmax tx requeue minter_<action> "
            "<period_key>).",
        ),
        sa.Column(
            "amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=True,
            comment="ITX base units (18 decimals): the amount requested (transfer), then the amount in the event "
            "once done.",
        ),
        sa.Column(
            "transaction_id", sa.BigInteger(), nullable=True, comment="The transaction ledger row (transactions.id)."
        ),
        sa.Column("tx_hash", HASH, nullable=True, comment="L1 transaction (mined one once done)."),
        sa.Column(
            "block_number",
            sa.BigInteger(),
            nullable=True,
            comment="L1 block of the mined transaction; null until done.",
        ),
        sa.Column(
            "block_time",
            MOMENT,
            nullable=True,
            comment="L1 block time of the mined transaction (UTC); the next period counts from its UTC day.",
        ),
        sa.Column(
            "error",
            sa.Text(),
            nullable=True,
            comment="Why the action is failed or parked (decoded revert, node message).",
        ),
        sa.Column(
            "created_at",
            MOMENT,
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row was written (before sending).",
        ),
        sa.Column(
            "updated_at", MOMENT, server_default=sa.func.now(), nullable=False, comment="When the row last changed."
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minter_actions")),
        sa.UniqueConstraint("action", "period_key", name=op.f("uq_minter_actions_action_period_key")),
        comment="ITX mint and transfer-to-Liquidity actions of the token manager, one row per (action, period), "
        "with the transaction and its L1 block (intmax_core.minting).",
    )
    op.create_index("ix_minter_actions_action_status", "minter_actions", ["action", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_minter_actions_action_status", table_name="minter_actions")
    op.drop_table("minter_actions")
