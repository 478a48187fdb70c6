"""The deposit_daily_stats table: per UTC day and token, deposit count, volume and time to L2.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intmax_core.warehouse.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deposit_daily_stats",
        sa.Column("day", sa.Date(), nullable=False, comment="UTC day of the deposits (by their L1 block time)."),
        sa.Column("token_index", sa.BigInteger(), nullable=False, comment="Liquidity token index (0 = ETH)."),
        sa.Column(
            "symbol",
            sa.String(length=64),
            nullable=True,
            comment="Token symbol from token_maps; null while unresolved.",
        ),
        sa.Column(
            "decimals", sa.Integer(), nullable=True, comment="Token decimals from token_maps; null while unresolved."
        ),
        sa.Column(
            "deposit_count", sa.Integer(), nullable=False, comment="Deposits made that day (canceled ones included)."
        ),
        sa.Column("canceled_count", sa.Integer(), nullable=False, comment="Of those, how many were canceled."),
        sa.Column("processed_count", sa.Integer(), nullable=False, comment="Of those, how many reached L2 (so far)."),
        sa.Column(
            "volume_base_units",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="Sum of the amounts in base units (exact).",
        ),
        sa.Column(
            "volume",
            sa.Double(),
            nullable=True,
            comment="Sum of the amounts in token units (base units / 10^decimals); null while decimals are unknown.",
        ),
        sa.Column(
            "median_processing_seconds",
            sa.Double(),
            nullable=True,
            comment="Median time from the L1 deposit to its L2 leaf (block times), over the processed ones.",
        ),
        sa.Column(
            "p95_processing_seconds",
            sa.Double(),
            nullable=True,
            comment="95th percentile (linear interpolation) of that time; null when none is processed.",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the day's row was computed (a later run recomputes it).",
        ),
        sa.PrimaryKeyConstraint("day", "token_index", name=op.f("pk_deposit_daily_stats")),
        comment="Per UTC day and token: deposit count, volume and deposit-to-L2 latency, computed from `deposits` and "
        "`token_maps` by the daily-partitioned deposit_daily_stats asset.",
    )


def downgrade() -> None:
    op.drop_table("deposit_daily_stats")
