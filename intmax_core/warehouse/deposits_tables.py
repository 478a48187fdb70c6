"""The `deposits` table: one row per INTMAX2 deposit id, derived from the indexed event tables.

Kept by intmax_core.deposits.derive; every value can be recomputed from `evt_*` rows at any time,
so the table holds no information of its own (a full rebuild reproduces it exactly).
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from intmax_core.warehouse.schema import ADDRESS_LENGTH, HASH_LENGTH, metadata, moment_column
from intmax_core.warehouse.types import Uint256


class DepositStatus(enum.StrEnum):
    """pending -> relayed -> processed, or canceled (only possible while pending)."""

    PENDING = "pending"
    RELAYED = "relayed"
    PROCESSED = "processed"
    CANCELED = "canceled"


# Statuses a later event can still change; the incremental refresh recomputes these every run.
OPEN_STATUSES = (DepositStatus.PENDING.value, DepositStatus.RELAYED.value)

deposits = Table(
    "deposits",
    metadata,
    Column("deposit_id", BigInteger, nullable=False, comment="Liquidity deposit id (from 1)."),
    Column("depositor", CHAR(ADDRESS_LENGTH), nullable=False, comment="L1 address that deposited (lowercase hex)."),
    Column("recipient_salt_hash", CHAR(HASH_LENGTH), nullable=False, comment="Opaque INTMAX recipient salt hash."),
    Column("token_index", BigInteger, nullable=False, comment="Liquidity token index (0 = native ETH)."),
    Column("amount", Uint256(), nullable=False, comment="Deposited amount in the token's base unit (exact uint256)."),
    Column("is_eligible", Boolean, nullable=False, comment="Whether the deposit is eligible for rewards."),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="pending -> relayed (a DepositsRelayed covers it) -> processed (its leaf is on L2), or canceled.",
    ),
    Column("deposit_hash", CHAR(HASH_LENGTH), nullable=False, comment="INTMAX2 deposit hash (docs/protocol.md §10.4)."),
    Column("deposit_tx_hash", CHAR(HASH_LENGTH), nullable=False, comment="L1 transaction that emitted Deposited."),
    Column("deposit_block_number", BigInteger, nullable=False, comment="L1 block of the Deposited log."),
    Column("deposited_at", DateTime(timezone=True), nullable=False, comment="L1 block time of the deposit (UTC)."),
    Column(
        "relay_up_to_deposit_id",
        BigInteger,
        nullable=True,
        comment="up_to_deposit_id of the first DepositsRelayed covering the deposit; null until relayed.",
    ),
    Column("relay_tx_hash", CHAR(HASH_LENGTH), nullable=True, comment="L1 transaction of that DepositsRelayed."),
    Column("relay_block_number", BigInteger, nullable=True, comment="L1 block of that DepositsRelayed."),
    Column("relayed_at", DateTime(timezone=True), nullable=True, comment="L1 block time of that DepositsRelayed."),
    Column("cancel_tx_hash", CHAR(HASH_LENGTH), nullable=True, comment="L1 transaction of DepositCanceled, if any."),
    Column("cancel_block_number", BigInteger, nullable=True, comment="L1 block of DepositCanceled, if any."),
    Column(
        "processed_tx_hash",
        CHAR(HASH_LENGTH),
        nullable=True,
        comment="L2 transaction of the DepositLeafInserted with this deposit hash; null until processed.",
    ),
    Column("processed_block_number", BigInteger, nullable=True, comment="L2 block of that DepositLeafInserted."),
    Column(
        "processed_at", DateTime(timezone=True), nullable=True, comment="L2 block time of that DepositLeafInserted."
    ),
    Column("leaf_index", BigInteger, nullable=True, comment="Deposit tree leaf index (deposit_index, from 0)."),
    moment_column("updated_at", "When the row last changed."),
    PrimaryKeyConstraint("deposit_id"),
    Index("ix_deposits_status", "status"),
    Index("ix_deposits_deposit_hash", "deposit_hash"),
    # The deposit status API lists a depositor's deposits newest first.
    Index("ix_deposits_depositor_deposit_id", "depositor", "deposit_id"),
    comment="One row per deposit id with its lifecycle, derived from evt_deposited, evt_deposits_relayed, "
    "evt_deposit_canceled and evt_deposit_leaf_inserted (intmax_core.deposits).",
)

deposit_batches = Table(
    "deposit_batches",
    metadata,
    Column(
        "up_to_deposit_id",
        BigInteger,
        nullable=False,
        comment="upToDepositId of the DepositsRelayed: the batch's last id.",
    ),
    Column(
        "first_deposit_id",
        BigInteger,
        nullable=False,
        comment="First id of the batch (the previous batch's up-to id + 1).",
    ),
    Column(
        "deposit_count",
        Integer,
        nullable=False,
        comment="Deposit hashes the batch carried (its ids minus canceled ones), decoded from the relayed message.",
    ),
    Column("gas_limit", BigInteger, nullable=False, comment="L2 gas limit given to relayDeposits for processDeposits."),
    Column("relay_tx_hash", CHAR(HASH_LENGTH), nullable=False, comment="L1 transaction that emitted DepositsRelayed."),
    Column("relay_block_number", BigInteger, nullable=False, comment="L1 block of the DepositsRelayed log."),
    Column("relayed_at", DateTime(timezone=True), nullable=False, comment="L1 block time of the relay (UTC)."),
    Column(
        "ledger_transaction_id",
        BigInteger,
        nullable=True,
        comment="transactions.id of the pipeline's relayDeposits that relayed it; null when someone else did.",
    ),
    Column(
        "oldest_deposited_at",
        DateTime(timezone=True),
        nullable=True,
        comment="L1 block time of the batch's oldest deposit; null when none of its deposits is indexed.",
    ),
    Column(
        "relay_wait_seconds",
        Double,
        nullable=True,
        comment="relayed_at - oldest_deposited_at: how long the batch's oldest deposit waited for the relay.",
    ),
    Column(
        "processed_tx_hash",
        CHAR(HASH_LENGTH),
        nullable=True,
        comment="L2 transaction of DepositsProcessed(lastProcessedDepositId = up_to_deposit_id); null until processed.",
    ),
    Column("processed_block_number", BigInteger, nullable=True, comment="L2 block of that DepositsProcessed."),
    Column("processed_at", DateTime(timezone=True), nullable=True, comment="L2 block time of that DepositsProcessed."),
    Column("deposit_tree_root", CHAR(HASH_LENGTH), nullable=True, comment="Deposit tree root after the batch (L2)."),
    Column(
        "processing_seconds",
        Double,
        nullable=True,
        comment="processed_at - relayed_at: L1 relay to L2 processing (block times of the two chains).",
    ),
    moment_column("updated_at", "When the row last changed."),
    PrimaryKeyConstraint("up_to_deposit_id"),
    Index("ix_deposit_batches_relay_tx_hash", "relay_tx_hash"),
    comment="One row per relayDeposits batch, derived from evt_deposits_relayed (L1), evt_deposits_processed (L2), "
    "evt_deposited and the transaction ledger (intmax_core.deposits.batches).",
)

deposit_daily_stats = Table(
    "deposit_daily_stats",
    metadata,
    Column("day", Date, nullable=False, comment="UTC day of the deposits (by their L1 block time)."),
    Column("token_index", BigInteger, nullable=False, comment="Liquidity token index (0 = ETH)."),
    Column("symbol", String(64), nullable=True, comment="Token symbol from token_maps; null while unresolved."),
    Column("decimals", Integer, nullable=True, comment="Token decimals from token_maps; null while unresolved."),
    Column("deposit_count", Integer, nullable=False, comment="Deposits made that day (canceled ones included)."),
    Column("canceled_count", Integer, nullable=False, comment="Of those, how many were canceled."),
    Column("processed_count", Integer, nullable=False, comment="Of those, how many reached L2 (so far)."),
    Column("volume_base_units", Uint256(), nullable=False, comment="Sum of the amounts in base units (exact)."),
    Column(
        "volume",
        Double,
        nullable=True,
        comment="Sum of the amounts in token units (base units / 10^decimals); null while decimals are unknown.",
    ),
    Column(
        "median_processing_seconds",
        Double,
        nullable=True,
        comment="Median time from the L1 deposit to its L2 leaf (block times), over the processed ones.",
    ),
    Column(
        "p95_processing_seconds",
        Double,
        nullable=True,
        comment="95th percentile (linear interpolation) of that time; null when none is processed.",
    ),
    moment_column("computed_at", "When the day's row was computed (a later run recomputes it)."),
    PrimaryKeyConstraint("day", "token_index"),
    comment="Per UTC day and token: deposit count, volume and deposit-to-L2 latency, computed from `deposits` and "
    "`token_maps` by the daily-partitioned deposit_daily_stats asset.",
)
