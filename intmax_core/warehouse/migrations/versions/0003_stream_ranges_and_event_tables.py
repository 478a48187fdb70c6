"""Indexed block ranges per stream, and one typed table per indexed event.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import intmax_core.warehouse.types  # custom column types (Uint256) that autogenerate renders

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evt_block_builder_heartbeat",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "block_builder",
            sa.CHAR(length=42),
            nullable=False,
            comment="BlockBuilderHeartbeat field (address, from the log topic).",
        ),
        sa.Column("url", sa.Text(), nullable=False, comment="BlockBuilderHeartbeat field (string, from the log data)."),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_block_builder_heartbeat")),
        comment="Indexed `event BlockBuilderHeartbeat(address indexed blockBuilder, string url)` logs (topic0 0x67981767cba56b93db9acb6becc4635fc1177e7837379bdd332bbcae78a55505).",
    )
    op.create_index(
        "ix_evt_block_builder_heartbeat_block_builder", "evt_block_builder_heartbeat", ["block_builder"], unique=False
    )
    op.create_table(
        "evt_block_posted",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "prev_block_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="BlockPosted field (bytes32, from the log topic).",
        ),
        sa.Column(
            "block_builder",
            sa.CHAR(length=42),
            nullable=False,
            comment="BlockPosted field (address, from the log topic).",
        ),
        sa.Column(
            "intmax_timestamp",
            sa.BigInteger(),
            nullable=False,
            comment="BlockPosted field (uint64, from the log data).",
        ),
        sa.Column(
            "intmax_block_number",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="BlockPosted field (uint256, from the log data).",
        ),
        sa.Column(
            "deposit_tree_root",
            sa.CHAR(length=66),
            nullable=False,
            comment="BlockPosted field (bytes32, from the log data).",
        ),
        sa.Column(
            "signature_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="BlockPosted field (bytes32, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_block_posted")),
        comment="Indexed `event BlockPosted(bytes32 indexed prevBlockHash, address indexed blockBuilder, uint64 timestamp, uint256 blockNumber, bytes32 depositTreeRoot, bytes32 signatureHash)` logs (topic0 0x28857582f627ebec65097e573daaa05604c35030fabadc548b80d1eec929d601).",
    )
    op.create_index("ix_evt_block_posted_block_builder", "evt_block_posted", ["block_builder"], unique=False)
    op.create_table(
        "evt_claimable_withdrawal_queued",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "withdrawal_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="ClaimableWithdrawalQueued field (bytes32, from the log topic).",
        ),
        sa.Column(
            "recipient",
            sa.CHAR(length=42),
            nullable=False,
            comment="ClaimableWithdrawalQueued field (address, from the log topic).",
        ),
        sa.Column(
            "withdrawal_recipient",
            sa.CHAR(length=42),
            nullable=False,
            comment="ClaimableWithdrawalQueued field (address, from the log data).",
        ),
        sa.Column(
            "withdrawal_token_index",
            sa.BigInteger(),
            nullable=False,
            comment="ClaimableWithdrawalQueued field (uint32, from the log data).",
        ),
        sa.Column(
            "withdrawal_amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="ClaimableWithdrawalQueued field (uint256, from the log data).",
        ),
        sa.Column(
            "withdrawal_nullifier",
            sa.CHAR(length=66),
            nullable=False,
            comment="ClaimableWithdrawalQueued field (bytes32, from the log data).",
        ),
        sa.PrimaryKeyConstraint(
            "chain_id", "block_number", "log_index", name=op.f("pk_evt_claimable_withdrawal_queued")
        ),
        comment="Indexed `event ClaimableWithdrawalQueued(bytes32 indexed withdrawalHash, address indexed recipient, (address recipient, uint32 tokenIndex, uint256 amount, bytes32 nullifier) withdrawal)` logs (topic0 0x740137a4fd93de42bb435842325e4fad55ea4ba617db0b44125377b94b43249d).",
    )
    op.create_index(
        "ix_evt_claimable_withdrawal_queued_withdrawal_hash",
        "evt_claimable_withdrawal_queued",
        ["withdrawal_hash"],
        unique=False,
    )
    op.create_table(
        "evt_claimed_withdrawal",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "recipient",
            sa.CHAR(length=42),
            nullable=False,
            comment="ClaimedWithdrawal field (address, from the log topic).",
        ),
        sa.Column(
            "withdrawal_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="ClaimedWithdrawal field (bytes32, from the log topic).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_claimed_withdrawal")),
        comment="Indexed `event ClaimedWithdrawal(address indexed recipient, bytes32 indexed withdrawalHash)` logs (topic0 0x0575467d13f5ab9174f470cec96623374b05cf4b19a3c83a4bfca523e243ab04).",
    )
    op.create_index(
        "ix_evt_claimed_withdrawal_withdrawal_hash", "evt_claimed_withdrawal", ["withdrawal_hash"], unique=False
    )
    op.create_table(
        "evt_deposit_canceled",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "deposit_id",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="DepositCanceled field (uint256, from the log topic).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_deposit_canceled")),
        comment="Indexed `event DepositCanceled(uint256 indexed depositId)` logs (topic0 0x0c1c0787650562778c282502dfd6dcea2fb79d23783920aa18aee36b4aa3dc48).",
    )
    op.create_index("ix_evt_deposit_canceled_deposit_id", "evt_deposit_canceled", ["deposit_id"], unique=False)
    op.create_table(
        "evt_deposit_leaf_inserted",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "deposit_index",
            sa.BigInteger(),
            nullable=False,
            comment="DepositLeafInserted field (uint32, from the log topic).",
        ),
        sa.Column(
            "deposit_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="DepositLeafInserted field (bytes32, from the log topic).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_deposit_leaf_inserted")),
        comment="Indexed `event DepositLeafInserted(uint32 indexed depositIndex, bytes32 indexed depositHash)` logs (topic0 0x529a1f0fdd7142aabe2b12dd8590a30a26c8427b5200ad8c775a5b4aa03fb41d).",
    )
    op.create_index(
        "ix_evt_deposit_leaf_inserted_deposit_hash", "evt_deposit_leaf_inserted", ["deposit_hash"], unique=False
    )
    op.create_table(
        "evt_deposited",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "deposit_id",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="Deposited field (uint256, from the log topic).",
        ),
        sa.Column(
            "sender", sa.CHAR(length=42), nullable=False, comment="Deposited field (address, from the log topic)."
        ),
        sa.Column(
            "recipient_salt_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="Deposited field (bytes32, from the log topic).",
        ),
        sa.Column(
            "token_index", sa.BigInteger(), nullable=False, comment="Deposited field (uint32, from the log data)."
        ),
        sa.Column(
            "amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="Deposited field (uint256, from the log data).",
        ),
        sa.Column("is_eligible", sa.Boolean(), nullable=False, comment="Deposited field (bool, from the log data)."),
        sa.Column(
            "deposited_at",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="Deposited field (uint256, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_deposited")),
        comment="Indexed `event Deposited(uint256 indexed depositId, address indexed sender, bytes32 indexed recipientSaltHash, uint32 tokenIndex, uint256 amount, bool isEligible, uint256 depositedAt)` logs (topic0 0x1061e9784cdd951f4cbc394956165b3a94cf872a3afda95fc76b55cefb35cc51).",
    )
    op.create_index("ix_evt_deposited_deposit_id", "evt_deposited", ["deposit_id"], unique=False)
    op.create_table(
        "evt_deposits_processed",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "last_processed_deposit_id",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="DepositsProcessed field (uint256, from the log topic).",
        ),
        sa.Column(
            "deposit_tree_root",
            sa.CHAR(length=66),
            nullable=False,
            comment="DepositsProcessed field (bytes32, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_deposits_processed")),
        comment="Indexed `event DepositsProcessed(uint256 indexed lastProcessedDepositId, bytes32 depositTreeRoot)` logs (topic0 0x598fdeda3e3b7298359a08c9a438151e3481bdcf3c3ff9906fa71dcc723617b0).",
    )
    op.create_table(
        "evt_deposits_relayed",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "up_to_deposit_id",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="DepositsRelayed field (uint256, from the log topic).",
        ),
        sa.Column(
            "gas_limit",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="DepositsRelayed field (uint256, from the log data).",
        ),
        sa.Column(
            "message",
            sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql"),
            nullable=False,
            comment="DepositsRelayed field (bytes, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_deposits_relayed")),
        comment="Indexed `event DepositsRelayed(uint256 indexed upToDepositId, uint256 gasLimit, bytes message)` logs (topic0 0x71df2a50f3ab1563277a27043770eb570eeaa3fc42ef76c607cdc667a82d03a4).",
    )
    op.create_index(
        "ix_evt_deposits_relayed_up_to_deposit_id", "evt_deposits_relayed", ["up_to_deposit_id"], unique=False
    )
    op.create_table(
        "evt_direct_withdrawal_failed",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "withdrawal_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="DirectWithdrawalFailed field (bytes32, from the log topic).",
        ),
        sa.Column(
            "withdrawal_recipient",
            sa.CHAR(length=42),
            nullable=False,
            comment="DirectWithdrawalFailed field (address, from the log data).",
        ),
        sa.Column(
            "withdrawal_token_index",
            sa.BigInteger(),
            nullable=False,
            comment="DirectWithdrawalFailed field (uint32, from the log data).",
        ),
        sa.Column(
            "withdrawal_amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="DirectWithdrawalFailed field (uint256, from the log data).",
        ),
        sa.Column(
            "withdrawal_nullifier",
            sa.CHAR(length=66),
            nullable=False,
            comment="DirectWithdrawalFailed field (bytes32, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_direct_withdrawal_failed")),
        comment="Indexed `event DirectWithdrawalFailed(bytes32 indexed withdrawalHash, (address recipient, uint32 tokenIndex, uint256 amount, bytes32 nullifier) withdrawal)` logs (topic0 0xedf8120f63daf877f6cb9aa7a3e21724c4532681d4afd77a45561904f1a04599).",
    )
    op.create_index(
        "ix_evt_direct_withdrawal_failed_withdrawal_hash",
        "evt_direct_withdrawal_failed",
        ["withdrawal_hash"],
        unique=False,
    )
    op.create_table(
        "evt_direct_withdrawal_queued",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "withdrawal_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="DirectWithdrawalQueued field (bytes32, from the log topic).",
        ),
        sa.Column(
            "recipient",
            sa.CHAR(length=42),
            nullable=False,
            comment="DirectWithdrawalQueued field (address, from the log topic).",
        ),
        sa.Column(
            "withdrawal_recipient",
            sa.CHAR(length=42),
            nullable=False,
            comment="DirectWithdrawalQueued field (address, from the log data).",
        ),
        sa.Column(
            "withdrawal_token_index",
            sa.BigInteger(),
            nullable=False,
            comment="DirectWithdrawalQueued field (uint32, from the log data).",
        ),
        sa.Column(
            "withdrawal_amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="DirectWithdrawalQueued field (uint256, from the log data).",
        ),
        sa.Column(
            "withdrawal_nullifier",
            sa.CHAR(length=66),
            nullable=False,
            comment="DirectWithdrawalQueued field (bytes32, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_direct_withdrawal_queued")),
        comment="Indexed `event DirectWithdrawalQueued(bytes32 indexed withdrawalHash, address indexed recipient, (address recipient, uint32 tokenIndex, uint256 amount, bytes32 nullifier) withdrawal)` logs (topic0 0xdbe674c66915823ad8cb90cac7eb482e951adec0311c9cf091da19de527ee935).",
    )
    op.create_index(
        "ix_evt_direct_withdrawal_queued_withdrawal_hash",
        "evt_direct_withdrawal_queued",
        ["withdrawal_hash"],
        unique=False,
    )
    op.create_table(
        "evt_direct_withdrawal_successed",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "withdrawal_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="DirectWithdrawalSuccessed field (bytes32, from the log topic).",
        ),
        sa.Column(
            "recipient",
            sa.CHAR(length=42),
            nullable=False,
            comment="DirectWithdrawalSuccessed field (address, from the log topic).",
        ),
        sa.PrimaryKeyConstraint(
            "chain_id", "block_number", "log_index", name=op.f("pk_evt_direct_withdrawal_successed")
        ),
        comment="Indexed `event DirectWithdrawalSuccessed(bytes32 indexed withdrawalHash, address indexed recipient)` logs (topic0 0x6a65a945f1306f9bb3d4e3ce63aa367de6976a375de002492404554392c2460e).",
    )
    op.create_index(
        "ix_evt_direct_withdrawal_successed_withdrawal_hash",
        "evt_direct_withdrawal_successed",
        ["withdrawal_hash"],
        unique=False,
    )
    op.create_table(
        "evt_minted",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="Minted field (uint256, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_minted")),
        comment="Indexed `event Minted(uint256 amount)` logs (topic0 0x176b02bb2d12439ff7a20b59f402cca16c76f50508b13ef3166a600eb719354a).",
    )
    op.create_table(
        "evt_sent_message",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "sender", sa.CHAR(length=42), nullable=False, comment="SentMessage field (address, from the log topic)."
        ),
        sa.Column(
            "target", sa.CHAR(length=42), nullable=False, comment="SentMessage field (address, from the log topic)."
        ),
        sa.Column(
            "value",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="SentMessage field (uint256, from the log data).",
        ),
        sa.Column(
            "message_nonce",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="SentMessage field (uint256, from the log data).",
        ),
        sa.Column(
            "gas_limit",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="SentMessage field (uint256, from the log data).",
        ),
        sa.Column(
            "message",
            sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql"),
            nullable=False,
            comment="SentMessage field (bytes, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_sent_message")),
        comment="Indexed `event SentMessage(address indexed sender, address indexed target, uint256 value, uint256 messageNonce, uint256 gasLimit, bytes message)` logs (topic0 0x104371f3b442861a2a7b82a070afbbaab748bb13757bf47769e170e37809ec1e).",
    )
    op.create_table(
        "evt_transferred_to_liquidity",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "amount",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="TransferredToLiquidity field (uint256, from the log data).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_transferred_to_liquidity")),
        comment="Indexed `event TransferredToLiquidity(uint256 amount)` logs (topic0 0x8273dcd202b30d46ae419270b79ac1ec0503fa8973c856f53796e0bbafa2b1cc).",
    )
    op.create_table(
        "evt_withdrawal_claimable",
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id."),
        sa.Column("block_number", sa.BigInteger(), nullable=False, comment="Block that contains the log."),
        sa.Column("log_index", sa.Integer(), nullable=False, comment="Position of the log in its block."),
        sa.Column("block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of block_number when indexed."),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False, comment="Timestamp of the block (UTC)."),
        sa.Column("tx_hash", sa.CHAR(length=66), nullable=False, comment="Transaction that emitted the log."),
        sa.Column("address", sa.CHAR(length=42), nullable=False, comment="Contract that emitted the log."),
        sa.Column(
            "withdrawal_hash",
            sa.CHAR(length=66),
            nullable=False,
            comment="WithdrawalClaimable field (bytes32, from the log topic).",
        ),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index", name=op.f("pk_evt_withdrawal_claimable")),
        comment="Indexed `event WithdrawalClaimable(bytes32 indexed withdrawalHash)` logs (topic0 0xd63a18c6858559d79659151118b33c6ad7cf4f7735b64fe9dbd85c509e11a117).",
    )
    op.create_index(
        "ix_evt_withdrawal_claimable_withdrawal_hash", "evt_withdrawal_claimable", ["withdrawal_hash"], unique=False
    )
    op.create_table(
        "stream_ranges",
        sa.Column("stream", sa.String(length=64), nullable=False, comment="Stream name, e.g. 'l1_liquidity'."),
        sa.Column("chain_id", sa.BigInteger(), nullable=False, comment="EVM chain id the stream reads."),
        sa.Column(
            "from_block", sa.BigInteger(), nullable=False, comment="First block of an indexed range (inclusive)."
        ),
        sa.Column("to_block", sa.BigInteger(), nullable=False, comment="Last block of the range (inclusive)."),
        sa.Column("to_block_hash", sa.CHAR(length=66), nullable=False, comment="Hash of to_block when indexed."),
        sa.Column(
            "indexed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the range was last written.",
        ),
        sa.PrimaryKeyConstraint("stream", "chain_id", "from_block", name=op.f("pk_stream_ranges")),
        comment="Block ranges each stream has indexed, merged when adjacent; a hole is a missing range.",
    )


def downgrade() -> None:
    op.drop_table("stream_ranges")
    op.drop_index("ix_evt_withdrawal_claimable_withdrawal_hash", table_name="evt_withdrawal_claimable")
    op.drop_table("evt_withdrawal_claimable")
    op.drop_table("evt_transferred_to_liquidity")
    op.drop_table("evt_sent_message")
    op.drop_table("evt_minted")
    op.drop_index("ix_evt_direct_withdrawal_successed_withdrawal_hash", table_name="evt_direct_withdrawal_successed")
    op.drop_table("evt_direct_withdrawal_successed")
    op.drop_index("ix_evt_direct_withdrawal_queued_withdrawal_hash", table_name="evt_direct_withdrawal_queued")
    op.drop_table("evt_direct_withdrawal_queued")
    op.drop_index("ix_evt_direct_withdrawal_failed_withdrawal_hash", table_name="evt_direct_withdrawal_failed")
    op.drop_table("evt_direct_withdrawal_failed")
    op.drop_index("ix_evt_deposits_relayed_up_to_deposit_id", table_name="evt_deposits_relayed")
    op.drop_table("evt_deposits_relayed")
    op.drop_table("evt_deposits_processed")
    op.drop_index("ix_evt_deposited_deposit_id", table_name="evt_deposited")
    op.drop_table("evt_deposited")
    op.drop_index("ix_evt_deposit_leaf_inserted_deposit_hash", table_name="evt_deposit_leaf_inserted")
    op.drop_table("evt_deposit_leaf_inserted")
    op.drop_index("ix_evt_deposit_canceled_deposit_id", table_name="evt_deposit_canceled")
    op.drop_table("evt_deposit_canceled")
    op.drop_index("ix_evt_claimed_withdrawal_withdrawal_hash", table_name="evt_claimed_withdrawal")
    op.drop_table("evt_claimed_withdrawal")
    op.drop_index("ix_evt_claimable_withdrawal_queued_withdrawal_hash", table_name="evt_claimable_withdrawal_queued")
    op.drop_table("evt_claimable_withdrawal_queued")
    op.drop_index("ix_evt_block_posted_block_builder", table_name="evt_block_posted")
    op.drop_table("evt_block_posted")
    op.drop_index("ix_evt_block_builder_heartbeat_block_builder", table_name="evt_block_builder_heartbeat")
    op.drop_table("evt_block_builder_heartbeat")
