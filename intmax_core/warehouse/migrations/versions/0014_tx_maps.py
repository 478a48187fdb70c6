"""The tx_maps table: tx-map entries (digest, data, expiry) of the tx-map API.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "tx_maps",
        sa.Column("digest", sa.String(length=256), nullable=False, comment="The client's key (opaque string)."),
        sa.Column("data", sa.Text(), nullable=False, comment="The stored value (opaque string)."),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the entry stops existing: reads treat it as missing from then on; the cleaner deletes it.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the entry was last written (a repeated POST overwrites it).",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_tx_maps")),
        comment="tx-map entries (digest -> data) with their expiry, written by POST /v1/map.",
    )
    with op.batch_alter_table("tx_maps", schema=None) as batch_op:
        batch_op.create_index("ix_tx_maps_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("tx_maps", schema=None) as batch_op:
        batch_op.drop_index("ix_tx_maps_expires_at")

    op.drop_table("tx_maps")
