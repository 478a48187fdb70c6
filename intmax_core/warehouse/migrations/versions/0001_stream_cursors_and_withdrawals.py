"""Stream cursors, and the withdrawal-server's production `withdrawals` table.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_cursors",
        sa.Column("stream", sa.String(length=64), nullable=False, comment="Stream name, e.g. 'l1_liquidity'."),
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id the stream reads."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Last block fully indexed (inclusive)."),
        sa.Column(
            "block_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="Hash of block_number when indexed; compared with the chain to detect reorgs.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the cursor last moved.",
        ),
        sa.PrimaryKeyConstraint("stream", "chain_id", name=op.f("pk_stream_cursors")),
        comment="Where each event stream has indexed up to; written in the same transaction as its rows.",
    )
    op.create_table(
        "withdrawals",
        sa.Column(
            "withdrawal_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="Withdrawal hash (keccak of recipient, tokenIndex, amount, nullifier); lowercase 0x hex.",
        ),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "relayed",
                "success",
                "need_claim",
                "failed",
                name="withdrawal_status",
                create_constraint=True,
            ),
            server_default="requested",
            nullable=False,
            comment="requested -> relayed -> success | need_claim -> success; failed if the L2 submission reverted.",
        ),
        sa.Column("pubkey", sa.CHAR(length=66), nullable=False, comment="INTMAX public key of the owner (U256 hex)."),
        sa.Column("recipient", sa.CHAR(length=42), nullable=False, comment="L1 address that receives the funds."),
        sa.Column(
            "contract_withdrawal",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment='{"recipient","tokenIndex","amount" (decimal string),"nullifier"}: the on-chain Withdrawal struct.',
        ),
        sa.Column(
            "single_withdrawal_proof",
            sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql"),
            nullable=True,
            comment="Compressed single-withdrawal proof; cleared once the withdrawal reaches success/need_claim.",
        ),
        sa.Column(
            "l1_tx_hash",
            sa.CHAR(length=66),
            nullable=True,
            comment="L1 transaction of the latest Liquidity event applied (not the L2 submission).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the withdrawal was requested.",
        ),
        sa.PrimaryKeyConstraint("withdrawal_hash", name=op.f("pk_withdrawals")),
        comment="Withdrawal requests, written by the INTMAX2 withdrawal-server; status advanced by the aggregator.",
    )
    op.create_index("idx_withdrawals_pubkey", "withdrawals", ["pubkey"], unique=False)
    op.create_index("idx_withdrawals_recipient", "withdrawals", ["recipient"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_withdrawals_recipient", table_name="withdrawals")
    op.drop_index("idx_withdrawals_pubkey", table_name="withdrawals")
    op.drop_table("withdrawals")
    op.drop_table("stream_cursors")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS withdrawal_status")
