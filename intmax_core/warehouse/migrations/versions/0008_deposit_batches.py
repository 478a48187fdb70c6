"""The deposit_batches table: one row per relayDeposits batch.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = sa.CHAR(length=66)


def _moment(name: str, comment: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, comment=comment)


def upgrade() -> None:
    op.create_table(
        "deposit_batches",
        sa.Column(
            "up_to_deposit_id",
            sa.BigInteger(),
            nullable=False,
            comment="upToDepositId of the DepositsRelayed: the batch's last id.",
        ),
        sa.Column(
            "first_deposit_id",
            sa.BigInteger(),
            nullable=False,
            comment="First id of the batch (the previous batch's up-to id + 1).",
        ),
        sa.Column(
            "deposit_count",
            sa.Integer(),
            nullable=False,
            comment="Deposit hashes the batch carried (its ids minus canceled ones), decoded from the relayed message.",
        ),
        sa.Column(
            "gas_limit",
            sa.BigInteger(),
            nullable=False,
            comment="L2 gas limit given to relayDeposits for processDeposits.",
        ),
        sa.Column("relay_tx_hash", HASH, nullable=False, comment="L1 transaction that emitted DepositsRelayed."),
        sa.Column(
            "relay_block_number", sa.BigInteger(), nullable=False, comment="L1 block of the DepositsRelayed log."
        ),
        _moment("relayed_at", "L1 block time of the relay (UTC).", nullable=False),
        sa.Column(
            "ledger_transaction_id",
            sa.BigInteger(),
            nullable=True,
            comment="transactions.id of the pipeline's relayDeposits that relayed it; null when someone else did.",
        ),
        _moment(
            "oldest_deposited_at",
            "L1 block time of the batch's oldest deposit; null when none of its deposits is indexed.",
        ),
        sa.Column(
            "relay_wait_seconds",
            sa.Double(),
            nullable=True,
            comment="relayed_at - oldest_deposited_at: how long the batch's oldest deposit waited for the relay.",
        ),
        sa.Column(
            "processed_tx_hash",
            HASH,
            nullable=True,
            comment="L2 transaction of DepositsProcessed(lastProcessedDepositId = up_to_deposit_id); "
            "null until processed.",
        ),
        sa.Column(
            "processed_block_number", sa.BigInteger(), nullable=True, comment="L2 block of that DepositsProcessed."
        ),
        _moment("processed_at", "L2 block time of that DepositsProcessed."),
        sa.Column("deposit_tree_root", HASH, nullable=True, comment="Deposit tree root after the batch (L2)."),
        sa.Column(
            "processing_seconds",
            sa.Double(),
            nullable=True,
            comment="processed_at - relayed_at: L1 relay to L2 processing (block times of the two chains).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row last changed.",
        ),
        sa.PrimaryKeyConstraint("up_to_deposit_id", name=op.f("pk_deposit_batches")),
        comment="One row per relayDeposits batch, derived from evt_deposits_relayed (L1), evt_deposits_processed (L2), "
        "evt_deposited and the transaction ledger (intmax_core.deposits.batches).",
    )
    op.create_index("ix_deposit_batches_relay_tx_hash", "deposit_batches", ["relay_tx_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deposit_batches_relay_tx_hash", table_name="deposit_batches")
    op.drop_table("deposit_batches")
