"""The alert_deliveries table: the last delivery of each distinct alert, for cross-process suppression.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column(
            "dedupe_key",
            sa.String(length=64),
            nullable=False,
            comment="sha256 (hex) of level, service and message (or the state a monitor dedupes on): identical "
            "alerts share one row.",
        ),
        sa.Column("level", sa.String(length=8), nullable=False, comment="INFO, WARN or FATAL."),
        sa.Column(
            "service",
            sa.String(length=128),
            nullable=False,
            comment="Which service raised the alert, e.g. 'wallet-observer'.",
        ),
        sa.Column(
            "message",
            sa.Text(),
            nullable=False,
            comment="The alert's latest message (without the [LEVEL] [APP_TARGET] prefix).",
        ),
        sa.Column(
            "last_sent_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the alert was last claimed for delivery and delivered; NULL = never delivered, or the last "
            "delivery failed (its claim was released, so the next attempt sends).",
        ),
        sa.Column("sent_count", sa.BigInteger(), nullable=False, comment="How many times the alert was delivered."),
        sa.Column(
            "suppressed_count",
            sa.BigInteger(),
            nullable=False,
            comment="How many times it was raised again within the suppression period and not sent.",
        ),
        sa.Column(
            "last_error",
            sa.Text(),
            nullable=True,
            comment="Why the last failed delivery failed (never the webhook URL); NULL after a delivery succeeds.",
        ),
        sa.Column(
            "first_raised_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the alert was first raised.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the row last changed (raised, delivered, suppressed or failed).",
        ),
        sa.PrimaryKeyConstraint("dedupe_key", name=op.f("pk_alert_deliveries")),
        comment="Alerts posted to the Discord webhook: last delivery per distinct alert, for cross-process "
        "suppression.",
    )


def downgrade() -> None:
    op.drop_table("alert_deliveries")
