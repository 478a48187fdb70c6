"""The transaction ledger: `parked` rows (waiting for an operator), and where each broadcast started.

- `transaction_status` gains `parked`. PostgreSQL cannot use a new enum value in the transaction
  that adds it, and before version 12 cannot add one inside a transaction block at all, so the
  value is added in an autocommit block. On SQLite the Enum is a VARCHAR with a CHECK constraint:
  the table is rebuilt (batch mode) with the new constraint.
- `transactions.parked_reason`: why a row is parked; the `nonce` comment says when it is cleared.
- `transaction_attempts.broadcast_block`: the latest block seen before the broadcast, from which a
  search for the block that used the attempt's nonce starts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_VALUES = ("pending", "sent", "confirmed", "settled", "reverted", "dropped", "failed")
NEW_VALUES = (*OLD_VALUES, "parked")
OLD_COMMENT = "pending -> sent -> confirmed | settled | reverted | dropped | failed (see intmax_core.warehouse.ledger)."
NEW_COMMENT = (
    "pending -> sent -> confirmed | settled | failed (retryable) | parked (needs an operator) | dropped; "
    "reverted only on rows written before revision 0005 (see intmax_core.warehouse.ledger)."
)
OLD_NONCE_COMMENT = "Nonce of the current attempts; null until one is assigned (never, if estimation reverted)."
NEW_NONCE_COMMENT = (
    "Nonce of the current attempts, set while they may still be mined; null before the first attempt, "
    "once another transaction took it (dropped), or once its own transaction reverted and a retry needs a new one."
)
PARKED_REASON_COMMENT = "Why the row is parked (decoded revert, failed effect); cleared when re-queued."
BROADCAST_BLOCK_COMMENT = "Latest block seen just before the broadcast; where a search for the nonce's use starts."


def _status(values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name="transaction_status", create_constraint=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE transaction_status ADD VALUE IF NOT EXISTS 'parked'")
        op.alter_column(
            "transactions",
            "status",
            existing_type=_status(OLD_VALUES),
            existing_nullable=False,
            existing_server_default=sa.text("'pending'::transaction_status"),
            comment=NEW_COMMENT,
            existing_comment=OLD_COMMENT,
        )
        op.alter_column(
            "transactions",
            "nonce",
            existing_type=sa.BigInteger(),
            existing_nullable=True,
            comment=NEW_NONCE_COMMENT,
            existing_comment=OLD_NONCE_COMMENT,
        )
    else:
        with op.batch_alter_table("transactions") as batch:
            batch.alter_column(
                "status",
                type_=_status(NEW_VALUES),
                existing_type=_status(OLD_VALUES),
                existing_nullable=False,
                existing_server_default="pending",
            )
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("parked_reason", sa.Text(), nullable=True, comment=PARKED_REASON_COMMENT))
    with op.batch_alter_table("transaction_attempts") as batch:
        batch.add_column(sa.Column("broadcast_block", sa.BigInteger(), nullable=True, comment=BROADCAST_BLOCK_COMMENT))


def downgrade() -> None:
    # Parked rows wait for an operator; before 0005 the nearest state is `failed` (retryable).
    op.execute("UPDATE transactions SET status = 'failed' WHERE status = 'parked'")
    with op.batch_alter_table("transaction_attempts") as batch:
        batch.drop_column("broadcast_block")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("parked_reason")
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL cannot drop an enum value: build the old type and move the column onto it.
        op.execute("ALTER TYPE transaction_status RENAME TO transaction_status_0005")
        _status(OLD_VALUES).create(op.get_bind())
        op.execute("ALTER TABLE transactions ALTER COLUMN status DROP DEFAULT")
        op.execute(
            "ALTER TABLE transactions ALTER COLUMN status TYPE transaction_status "
            "USING status::text::transaction_status"
        )
        op.execute("ALTER TABLE transactions ALTER COLUMN status SET DEFAULT 'pending'")
        op.execute("DROP TYPE transaction_status_0005")
        op.alter_column("transactions", "status", existing_type=_status(OLD_VALUES), comment=OLD_COMMENT)
        op.alter_column(
            "transactions",
            "nonce",
            existing_type=sa.BigInteger(),
            existing_nullable=True,
            comment=OLD_NONCE_COMMENT,
            existing_comment=NEW_NONCE_COMMENT,
        )
    else:
        with op.batch_alter_table("transactions") as batch:
            batch.alter_column(
                "status",
                type_=_status(OLD_VALUES),
                existing_type=_status(NEW_VALUES),
                existing_nullable=False,
                existing_server_default="pending",
            )
