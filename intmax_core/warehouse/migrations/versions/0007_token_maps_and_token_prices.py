"""Token tables: token_maps (the token map), token_prices (the current list) and token_price_history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intmax_core.warehouse.types  # custom column types (Uint256) that autogenerate renders

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "token_maps",
        sa.Column("token_index", sa.BigInteger(), nullable=False, comment="Liquidity token index (0 = native ETH)."),
        sa.Column(
            "token_type",
            sa.SmallInteger(),
            nullable=True,
            comment="0 native, 1 ERC20, 2 ERC721, 3 ERC1155 (Liquidity.getTokenInfo); null while unresolved.",
        ),
        sa.Column(
            "contract_address",
            sa.CHAR(length=42),
            nullable=True,
            comment="Lowercase L1 token contract (zero address for ETH); null while getTokenInfo is unresolved.",
        ),
        sa.Column(
            "token_id",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=True,
            comment="Token id for ERC721/ERC1155; 0 for ETH and ERC20.",
        ),
        sa.Column(
            "symbol",
            sa.String(length=64),
            nullable=True,
            comment="ERC20 symbol() (bytes32 symbols decoded); null while unresolved.",
        ),
        sa.Column("decimals", sa.Integer(), nullable=True, comment="ERC20 decimals(); null while unresolved."),
        sa.Column(
            "resolve_error",
            sa.Text(),
            nullable=True,
            comment="Why the last attempt to resolve this token failed; null once resolved. Retried every run.",
        ),
        sa.Column(
            "resolve_attempts",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Failed resolution attempts so far.",
        ),
        sa.Column(
            "resolved_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When symbol and decimals were read; null while unresolved.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the token index was first seen.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row last changed.",
        ),
        sa.PrimaryKeyConstraint("token_index", name=op.f("pk_token_maps")),
        comment="The token map: every Liquidity token index seen in deposits, with its contract, symbol and decimals. Rows with resolved_at null are still being resolved (resolve_error says why).",
    )
    op.create_table(
        "token_price_history",
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When the sync ran (one value per sync)."
        ),
        sa.Column("coingecko_id", sa.String(length=128), nullable=False, comment="CoinGecko coin id."),
        sa.Column("symbol", sa.String(length=64), nullable=False, comment="CoinGecko's symbol (lowercase)."),
        sa.Column(
            "contract_address",
            sa.CHAR(length=42),
            nullable=False,
            comment="Lowercase L1 address; zero address for ETH.",
        ),
        sa.Column("price_usd", sa.Double(), nullable=False, comment="Price in USD at that sync (0 when unknown)."),
        sa.PrimaryKeyConstraint("synced_at", "coingecko_id", name=op.f("pk_token_price_history")),
        comment="One row per token per successful price sync, for analysts (price over time).",
    )
    with op.batch_alter_table("token_price_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_token_price_history_contract_address_synced_at", ["contract_address", "synced_at"], unique=False
        )

    op.create_table(
        "token_prices",
        sa.Column(
            "coingecko_id", sa.String(length=128), nullable=False, comment="CoinGecko coin id (e.g. 'ethereum')."
        ),
        sa.Column("symbol", sa.String(length=64), nullable=False, comment="CoinGecko's symbol (lowercase)."),
        sa.Column(
            "contract_address",
            sa.CHAR(length=42),
            nullable=False,
            comment="Lowercase L1 address; zero address for ETH.",
        ),
        sa.Column(
            "decimals",
            sa.Integer(),
            nullable=False,
            comment="Token decimals (from chain where CoinGecko has none; 18 if unreadable).",
        ),
        sa.Column(
            "price_usd", sa.Double(), nullable=False, comment="Price in USD at the sync (0 when CoinGecko has none)."
        ),
        sa.Column("image", sa.Text(), nullable=False, comment="Logo URL (CoinGecko's, or the default image URL)."),
        sa.Column(
            "list_position", sa.Integer(), nullable=False, comment="Position in the served list (the API's order)."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When the sync that wrote this list ran."
        ),
        sa.PrimaryKeyConstraint("coingecko_id", name=op.f("pk_token_prices")),
        comment="The current token price list (replaced whole by each successful sync; a failed sync writes nothing).",
    )
    with op.batch_alter_table("token_prices", schema=None) as batch_op:
        batch_op.create_index("ix_token_prices_contract_address", ["contract_address"], unique=False)
        batch_op.create_index("ix_token_prices_list_position", ["list_position"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("token_prices", schema=None) as batch_op:
        batch_op.drop_index("ix_token_prices_list_position")
        batch_op.drop_index("ix_token_prices_contract_address")

    op.drop_table("token_prices")
    with op.batch_alter_table("token_price_history", schema=None) as batch_op:
        batch_op.drop_index("ix_token_price_history_contract_address_synced_at")

    op.drop_table("token_price_history")
    op.drop_table("token_maps")
