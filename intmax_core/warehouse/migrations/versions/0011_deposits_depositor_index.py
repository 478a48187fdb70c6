"""An index on deposits (depositor, deposit_id): the deposit status API lists a depositor's deposits.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deposits_depositor_deposit_id", "deposits", ["depositor", "deposit_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deposits_depositor_deposit_id", table_name="deposits")
