"""Token tables: the token map (Liquidity token index -> contract, symbol, decimals) and token prices.

`token_maps` is kept by intmax_core.tokens (the token-map register), `token_prices` and
`token_price_history` by the token-metadata sync; the token API reads them.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    CHAR,
    BigInteger,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

from intmax_core.warehouse.schema import ADDRESS_LENGTH, metadata, moment_column
from intmax_core.warehouse.types import Uint256

ZERO_ADDRESS = "0x" + "0" * 40


class TokenType(enum.IntEnum):
    """Liquidity's token types (getTokenInfo)."""

    NATIVE = 0
    ERC20 = 1
    ERC721 = 2
    ERC1155 = 3


token_maps = Table(
    "token_maps",
    metadata,
    Column("token_index", BigInteger, nullable=False, comment="Liquidity token index (0 = native ETH)."),
    Column(
        "token_type",
        SmallInteger,
        nullable=True,
        comment="0 native, 1 ERC20, 2 ERC721, 3 ERC1155 (Liquidity.getTokenInfo); null while unresolved.",
    ),
    Column(
        "contract_address",
        CHAR(ADDRESS_LENGTH),
        nullable=True,
        comment="Lowercase L1 token contract (zero address for ETH); null while getTokenInfo is unresolved.",
    ),
    Column("token_id", Uint256(), nullable=True, comment="Token id for ERC721/ERC1155; 0 for ETH and ERC20."),
    Column(
        "symbol", String(64), nullable=True, comment="ERC20 symbol() (bytes32 symbols decoded); null while unresolved."
    ),
    Column("decimals", Integer, nullable=True, comment="ERC20 decimals(); null while unresolved."),
    Column(
        "resolve_error",
        Text,
        nullable=True,
        comment="Why the last attempt to resolve this token failed; null once resolved. Retried every run.",
    ),
    Column(
        "resolve_attempts", Integer, nullable=False, server_default="0", comment="Failed resolution attempts so far."
    ),
    Column(
        "resolved_at",
        DateTime(timezone=True),
        nullable=True,
        comment="When symbol and decimals were read; null while unresolved.",
    ),
    moment_column("created_at", "When the token index was first seen."),
    moment_column("updated_at", "When the row last changed."),
    PrimaryKeyConstraint("token_index"),
    comment="The token map: every Liquidity token index seen in deposits, with its contract, symbol and decimals. "
    "Rows with resolved_at null are still being resolved (resolve_error says why).",
)

token_prices = Table(
    "token_prices",
    metadata,
    Column("coingecko_id", String(128), nullable=False, comment="CoinGecko coin id (e.g. 'ethereum')."),
    Column("symbol", String(64), nullable=False, comment="CoinGecko's symbol (lowercase)."),
    Column(
        "contract_address", CHAR(ADDRESS_LENGTH), nullable=False, comment="Lowercase L1 address; zero address for ETH."
    ),
    Column(
        "decimals",
        Integer,
        nullable=False,
        comment="Token decimals (from chain where CoinGecko has none; 18 if unreadable).",
    ),
    Column("price_usd", Double, nullable=False, comment="Price in USD at the sync (0 when CoinGecko has none)."),
    Column("image", Text, nullable=False, comment="Logo URL (CoinGecko's, or the default image URL)."),
    Column("list_position", Integer, nullable=False, comment="Position in the served list (the API's order)."),
    Column("synced_at", DateTime(timezone=True), nullable=False, comment="When the sync that wrote this list ran."),
    PrimaryKeyConstraint("coingecko_id"),
    Index("ix_token_prices_contract_address", "contract_address"),
    Index("ix_token_prices_list_position", "list_position"),
    comment="The current token price list (replaced whole by each successful sync; a failed sync writes nothing).",
)

token_price_history = Table(
    "token_price_history",
    metadata,
    Column("synced_at", DateTime(timezone=True), nullable=False, comment="When the sync ran (one value per sync)."),
    Column("coingecko_id", String(128), nullable=False, comment="CoinGecko coin id."),
    Column("symbol", String(64), nullable=False, comment="CoinGecko's symbol (lowercase)."),
    Column(
        "contract_address", CHAR(ADDRESS_LENGTH), nullable=False, comment="Lowercase L1 address; zero address for ETH."
    ),
    Column("price_usd", Double, nullable=False, comment="Price in USD at that sync (0 when unknown)."),
    PrimaryKeyConstraint("synced_at", "coingecko_id"),
    Index("ix_token_price_history_contract_address_synced_at", "contract_address", "synced_at"),
    comment="One row per token per successful price sync, for analysts (price over time).",
)
