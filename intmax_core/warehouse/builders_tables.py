"""The block builders the pipeline knows from their heartbeats, and the latest verdict on each."""

from __future__ import annotations

from sqlalchemy import CHAR, BigInteger, Boolean, Column, DateTime, Index, Integer, PrimaryKeyConstraint, Table, Text

from intmax_core.warehouse.schema import ADDRESS_LENGTH, HASH_LENGTH, metadata, moment_column
from intmax_core.warehouse.types import Uint256

block_builders = Table(
    "block_builders",
    metadata,
    Column("address", CHAR(ADDRESS_LENGTH), nullable=False, comment="Builder address (lowercase)."),
    Column("url", Text, nullable=False, comment="Base URL announced in the builder's latest heartbeat."),
    Column("chain_id", BigInteger, nullable=False, comment="L2 chain id of the heartbeat."),
    Column("heartbeat_block_number", BigInteger, nullable=False, comment="L2 block of the latest heartbeat."),
    Column("heartbeat_log_index", Integer, nullable=False, comment="Log index of the latest heartbeat in its block."),
    Column("heartbeat_tx_hash", CHAR(HASH_LENGTH), nullable=False, comment="Transaction of the latest heartbeat."),
    Column(
        "last_synced_at",
        DateTime(timezone=True),
        nullable=False,
        comment="Block time (UTC) of the latest heartbeat; older than 24 h = inactive.",
    ),
    Column(
        "active",
        Boolean,
        nullable=True,
        comment="Passed every health check at checked_at; NULL until block_builder_health first judged it.",
    ),
    Column(
        "inactive_reason",
        Text,
        nullable=True,
        comment="Why the builder is inactive: the failed checks, '; '-separated (NULL when active).",
    ),
    Column(
        "inactive_checks",
        Text,
        nullable=True,
        comment="The failed checks' codes, comma-separated (stale_heartbeat, not_https, fee_info_unreachable, "
        "fee_info_invalid, version_too_old, fee_token_not_allowed, fee_above_cap, low_balance, balance_unreadable).",
    ),
    Column("version", Text, nullable=True, comment="Version the builder's /fee-info reported at the last check."),
    Column("eth_balance_wei", Uint256, nullable=True, comment="L2 ETH balance (wei) read at the last check."),
    Column("checked_at", DateTime(timezone=True), nullable=True, comment="When `active` was last decided."),
    moment_column("updated_at", "When the row last changed (heartbeat or verdict)."),
    PrimaryKeyConstraint("address"),
    Index("ix_block_builders_active", "active"),
    comment="Block builders: the latest heartbeat of each (from evt_block_builder_heartbeat) and the health "
    "verdict that GET /v1/indexer/builders serves from.",
)
