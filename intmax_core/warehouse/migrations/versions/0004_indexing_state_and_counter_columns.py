"""Indexing state (day boundaries, learned getLogs caps, check watermarks) and BIGINT counter columns.

Counters stored as uint256 (zero-padded text on SQLite) become BIGINT on both backends, so that
`WHERE deposit_id = 1` finds the row; the values are converted in place.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intmax_core.warehouse.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column) of every uint256 counter (intmax_core.warehouse.event_tables.COUNTER_COLUMNS).
COUNTERS = (
    ("evt_deposited", "deposit_id"),
    ("evt_deposited", "deposited_at"),
    ("evt_deposits_relayed", "up_to_deposit_id"),
    ("evt_deposit_canceled", "deposit_id"),
    ("evt_sent_message", "message_nonce"),
    ("evt_block_posted", "intmax_block_number"),
    ("evt_deposits_processed", "last_processed_deposit_id"),
)
UINT256 = intmax_core.warehouse.types.Uint256(precision=78, scale=0)


def _convert(to_type: sa.types.TypeEngine, using: str) -> None:
    for table, column in COUNTERS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=to_type,
                existing_type=UINT256 if isinstance(to_type, sa.BigInteger) else sa.BigInteger(),
                existing_nullable=False,
                postgresql_using=using.format(column=column),
            )


def upgrade() -> None:
    op.create_table(
        "chain_day_boundaries",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("day", sa.Date(), nullable=False, comment="UTC day whose 00:00 the boundary marks."),
        sa.Column(
            "first_block",
            sa.BigInteger(),
            nullable=False,
            comment="First block with timestamp >= the day's 00:00 UTC (final when stored).",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the boundary was found.",
        ),
        sa.PrimaryKeyConstraint("chain_id", "day", name=op.f("pk_chain_day_boundaries")),
        comment="Day boundaries of each chain (first block of each UTC day), cached for partition-to-block mapping.",
    )
    op.create_table(
        "log_range_caps",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column(
            "max_blocks", sa.BigInteger(), nullable=False, comment="Most blocks one eth_getLogs request may span."
        ),
        sa.Column("provider", sa.String(length=64), nullable=False, comment="Which provider's message stated the cap."),
        sa.Column(
            "learned_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the cap was last learned.",
        ),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_log_range_caps")),
        comment="eth_getLogs block-range caps learned from providers' error messages, per chain.",
    )
    op.create_table(
        "check_watermarks",
        sa.Column(
            "check_name", sa.String(length=64), nullable=False, comment="Asset check, e.g. 'deposit_ids_contiguous'."
        ),
        sa.Column("stream", sa.String(length=64), nullable=False, comment="Stream the check audits."),
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column(
            "verified_up_to", sa.BigInteger(), nullable=False, comment="Value up to which the check has verified."
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the watermark last moved.",
        ),
        sa.PrimaryKeyConstraint("check_name", "stream", "chain_id", name=op.f("pk_check_watermarks")),
        comment="How far incremental asset checks have verified, so each run reads only what is new.",
    )
    _convert(sa.BigInteger(), "{column}::bigint")


def downgrade() -> None:
    _convert(UINT256, "{column}::numeric(78,0)")
    op.drop_table("check_watermarks")
    op.drop_table("log_range_caps")
    op.drop_table("chain_day_boundaries")
