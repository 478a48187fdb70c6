"""The tx-map table: short-lived key/value entries clients share through the API (POST/GET /v1/map)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, PrimaryKeyConstraint, String, Table, Text

from intmax_core.warehouse.schema import metadata, moment_column

DIGEST_MAX_LENGTH = 256

tx_maps = Table(
    "tx_maps",
    metadata,
    Column("digest", String(DIGEST_MAX_LENGTH), nullable=False, comment="The client's key (opaque string)."),
    Column("data", Text, nullable=False, comment="The stored value (opaque string)."),
    Column(
        "expires_at",
        DateTime(timezone=True),
        nullable=False,
        comment="When the entry stops existing: reads treat it as missing from then on; the cleaner deletes it.",
    ),
    moment_column("updated_at", "When the entry was last written (a repeated POST overwrites it)."),
    PrimaryKeyConstraint("digest"),
    Index("ix_tx_maps_expires_at", "expires_at"),
    comment="tx-map entries (digest -> data) with their expiry, written by POST /v1/map.",
)
