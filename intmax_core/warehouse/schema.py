"""Warehouse tables. Alembic migrations (migrations/versions) create them; `alembic check` keeps
this module and the migrations in step. Every table and column carries a comment for analysts.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Enum,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import BYTEA, JSONB

# Deterministic constraint names, so migrations can refer to them on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

HASH_LENGTH = 66  # "0x" + 64 hex characters
ADDRESS_LENGTH = 42  # "0x" + 40 hex characters

Json = JSON().with_variant(JSONB(), "postgresql")


def moment_column(name: str, comment: str) -> Column:
    """A timestamp (UTC) that the database sets to now() when the row is inserted."""
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now(), comment=comment)


Bytes = LargeBinary().with_variant(BYTEA(), "postgresql")


class WithdrawalStatus(enum.StrEnum):
    """The withdrawal-server's `withdrawal_status` enum (docs/protocol.md §3)."""

    REQUESTED = "requested"
    RELAYED = "relayed"
    SUCCESS = "success"
    NEED_CLAIM = "need_claim"
    FAILED = "failed"


stream_cursors = Table(
    "stream_cursors",
    metadata,
    Column("stream", String(64), nullable=False, comment="Stream name, e.g. 'l1_liquidity'."),
    Column("chain_id", BigInteger, nullable=False, comment="EVM chain id the stream reads."),
    Column("block_number", BigInteger, nullable=False, comment="Last block fully indexed (inclusive)."),
    Column(
        "block_hash",
        CHAR(HASH_LENGTH),
        nullable=False,
        comment="Hash of block_number when indexed; compared with the chain to detect reorgs.",
    ),
    moment_column("updated_at", "When the cursor last moved."),
    PrimaryKeyConstraint("stream", "chain_id"),
    comment="Where each event stream has indexed up to; written in the same transaction as its rows.",
)

stream_ranges = Table(
    "stream_ranges",
    metadata,
    Column("stream", String(64), nullable=False, comment="Stream name, e.g. 'l1_liquidity'."),
    Column("chain_id", BigInteger, nullable=False, comment="EVM chain id the stream reads."),
    Column("from_block", BigInteger, nullable=False, comment="First block of an indexed range (inclusive)."),
    Column("to_block", BigInteger, nullable=False, comment="Last block of the range (inclusive)."),
    Column("to_block_hash", CHAR(HASH_LENGTH), nullable=False, comment="Hash of to_block when indexed."),
    moment_column("indexed_at", "When the range was last written."),
    PrimaryKeyConstraint("stream", "chain_id", "from_block"),
    comment="Block ranges each stream has indexed, merged when adjacent; a hole is a missing range.",
)

# The exact production schema of the INTMAX2 withdrawal-server, so the pipeline can run against
# the real withdrawal database. What the aggregator adds lives in its own tables.
withdrawals = Table(
    "withdrawals",
    metadata,
    Column(
        "withdrawal_hash",
        CHAR(HASH_LENGTH),
        primary_key=True,
        comment="Withdrawal hash (keccak of recipient, tokenIndex, amount, nullifier); lowercase 0x hex.",
    ),
    Column(
        "status",
        Enum(
            WithdrawalStatus,
            name="withdrawal_status",
            values_callable=lambda statuses: [s.value for s in statuses],
            create_constraint=True,
        ),
        nullable=False,
        server_default=WithdrawalStatus.REQUESTED.value,
        comment="requested -> relayed -> success | need_claim -> success; failed if the L2 submission reverted.",
    ),
    Column("pubkey", CHAR(HASH_LENGTH), nullable=False, comment="INTMAX public key of the owner (U256 hex)."),
    Column("recipient", CHAR(ADDRESS_LENGTH), nullable=False, comment="L1 address that receives the funds."),
    Column(
        "contract_withdrawal",
        Json,
        nullable=False,
        comment='{"recipient","tokenIndex","amount" (decimal string),"nullifier"}: the on-chain Withdrawal struct.',
    ),
    Column(
        "single_withdrawal_proof",
        Bytes,
        nullable=True,
        comment="Compressed single-withdrawal proof; cleared once the withdrawal reaches success/need_claim.",
    ),
    Column(
        "l1_tx_hash",
        CHAR(HASH_LENGTH),
        nullable=True,
        comment="L1 transaction of the latest Liquidity event applied (not the L2 submission).",
    ),
    moment_column("created_at", "When the withdrawal was requested."),
    # Non-unique: one owner or recipient has many withdrawals (an upstream copy wrongly made them UNIQUE).
    Index("idx_withdrawals_pubkey", "pubkey"),
    Index("idx_withdrawals_recipient", "recipient"),
    # Added by the pipeline (not in the withdrawal-server's schema): the collector reads the oldest
    # requested rows, which must not scan the table.
    Index("ix_withdrawals_status_created_at", "status", "created_at"),
    comment="Withdrawal requests, written by the INTMAX2 withdrawal-server; status advanced by the aggregator.",
)

# The first block at or after a UTC midnight, per chain: the boundaries of daily partitions. Found
# by binary search on block timestamps (about 50 sequential header requests), so each is computed
# once and kept; only boundaries at or below the safe head are stored, and those never change.
chain_day_boundaries = Table(
    "chain_day_boundaries",
    metadata,
    Column("chain_id", BigInteger, nullable=False, comment="EVM chain id."),
    Column("day", Date, nullable=False, comment="UTC day whose 00:00 the boundary marks."),
    Column(
        "first_block",
        BigInteger,
        nullable=False,
        comment="First block with timestamp >= the day's 00:00 UTC (final when stored).",
    ),
    moment_column("computed_at", "When the boundary was found."),
    PrimaryKeyConstraint("chain_id", "day"),
    comment="Day boundaries of each chain (first block of each UTC day), cached for partition-to-block mapping.",
)

# Providers state their eth_getLogs caps in error messages; a cap learned once holds for every
# later run on that chain, so it is kept instead of being rediscovered by a failing request.
log_range_caps = Table(
    "log_range_caps",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, comment="EVM chain id."),
    Column("max_blocks", BigInteger, nullable=False, comment="Most blocks one eth_getLogs request may span."),
    Column("provider", String(64), nullable=False, comment="Which provider's message stated the cap."),
    moment_column("learned_at", "When the cap was last learned."),
    comment="eth_getLogs block-range caps learned from providers' error messages, per chain.",
)

# Audits that would rescan a whole table on every run keep how far they have verified instead.
check_watermarks = Table(
    "check_watermarks",
    metadata,
    Column("check_name", String(64), nullable=False, comment="Asset check, e.g. 'deposit_ids_contiguous'."),
    Column("stream", String(64), nullable=False, comment="Stream the check audits."),
    Column("chain_id", BigInteger, nullable=False, comment="EVM chain id."),
    Column("verified_up_to", BigInteger, nullable=False, comment="Value up to which the check has verified."),
    moment_column("updated_at", "When the watermark last moved."),
    PrimaryKeyConstraint("check_name", "stream", "chain_id"),
    comment="How far incremental asset checks have verified, so each run reads only what is new.",
)
