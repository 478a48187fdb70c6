"""The block_builders table: each builder's latest heartbeat and health verdict (with the reasons).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intmax_core.warehouse.types  # custom column types (Uint256) that autogenerate renders

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "block_builders",
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Builder address (lowercase)."),
        sa.Column("url", sa.Text(), nullable=False, comment="Base URL announced in the builder's latest heartbeat."),
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="L2 chain id of the heartbeat."),
        sa.Column(
            "heartbeat_block_number", sa.BigInteger(), nullable=False, comment="L2 block of the latest heartbeat."
        ),
        sa.Column(
            "heartbeat_log_index",
            sa.Integer(),
            nullable=False,
            comment="Log index of the latest heartbeat in its block.",
        ),
        sa.Column(
            "heartbeat_tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction of the latest heartbeat."
        ),
        sa.Column(
            "last_synced_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Block time (UTC) of the latest heartbeat; older than 24 h = inactive.",
        ),
        sa.Column(
            "active",
            sa.Boolean(),
            nullable=True,
            comment="Passed every health check at checked_at; NULL until block_builder_health first judged it.",
        ),
        sa.Column(
            "inactive_reason",
            sa.Text(),
            nullable=True,
            comment="Why the builder is inactive: the failed checks, '; '-separated (NULL when active).",
        ),
        sa.Column(
            "inactive_checks",
            sa.Text(),
            nullable=True,
            comment="The failed checks' codes, comma-separated (stale_heartbeat, not_https, fee_info_unreachable, fee_info_invalid, version_too_old, fee_token_not_allowed, fee_above_cap, low_balance, balance_unreadable).",
        ),
        sa.Column(
            "version", sa.Text(), nullable=True, comment="Version the builder's /fee-info reported at the last check."
        ),
        sa.Column(
            "eth_balance_wei",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=True,
            comment="L2 ETH balance (wei) read at the last check.",
        ),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True, comment="When `active` was last decided."),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row last changed (heartbeat or verdict).",
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_block_builders")),
        comment="Block builders: the latest heartbeat of each (from evt_block_builder_heartbeat) and the health verdict that GET /v1/indexer/builders serves from.",
    )
    with op.batch_alter_table("block_builders", schema=None) as batch_op:
        batch_op.create_index("ix_block_builders_active", ["active"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("block_builders", schema=None) as batch_op:
        batch_op.drop_index("ix_block_builders_active")

    op.drop_table("block_builders")
