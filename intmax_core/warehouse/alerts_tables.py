"""The alert_deliveries table: what the alert notifier last delivered, shared by every process.

Dagster runs each job in its own process (and a deployment may run several daemons), so the
"same alert less than INTMAX_ALERT_SUPPRESS_SECONDS ago" rule cannot live in memory: one row per
distinct alert (level, service, message) holds when it was last delivered, and the notifier claims
a send with one atomic upsert on this row (intmax_core.alerts.suppression).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, PrimaryKeyConstraint, String, Table, Text

from intmax_core.warehouse.schema import metadata, moment_column

DEDUPE_KEY_LENGTH = 64  # sha256 hex digest

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column(
        "dedupe_key",
        String(DEDUPE_KEY_LENGTH),
        nullable=False,
        comment="sha256 (hex) of level, service and message (or the state a monitor dedupes on): identical "
        "alerts share one row.",
    ),
    Column("level", String(8), nullable=False, comment="INFO, WARN or FATAL."),
    Column("service", String(128), nullable=False, comment="Which service raised the alert, e.g. 'wallet-observer'."),
    Column(
        "message", Text, nullable=False, comment="The alert's latest message (without the [LEVEL] [APP_TARGET] prefix)."
    ),
    Column(
        "last_sent_at",
        DateTime(timezone=True),
        nullable=True,
        comment="When the alert was last claimed for delivery and delivered; NULL = never delivered, or the last "
        "delivery failed (its claim was released, so the next attempt sends).",
    ),
    Column("sent_count", BigInteger, nullable=False, comment="How many times the alert was delivered."),
    Column(
        "suppressed_count",
        BigInteger,
        nullable=False,
        comment="How many times it was raised again within the suppression period and not sent.",
    ),
    Column(
        "last_error",
        Text,
        nullable=True,
        comment="Why the last failed delivery failed (never the webhook URL); NULL after a delivery succeeds.",
    ),
    moment_column("first_raised_at", "When the alert was first raised."),
    Column(
        "updated_at",
        DateTime(timezone=True),
        nullable=False,
        comment="When the row last changed (raised, delivered, suppressed or failed).",
    ),
    PrimaryKeyConstraint("dedupe_key"),
    comment="Alerts posted to the Discord webhook: last delivery per distinct alert, for cross-process suppression.",
)
