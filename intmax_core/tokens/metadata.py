"""Decode what token contracts answer: Liquidity.getTokenInfo, ERC20 symbol() and decimals().

Every decoder returns (value, None) or (None, reason): a token with odd metadata is an answer about
that token (recorded and retried), never an exception that would stop the other tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode
from eth_abi.exceptions import DecodingError

from intmax_core.tokens.multicall import CallResult
from intmax_core.warehouse.tokens_tables import TokenType

# Error(string), the revert payload of `require(cond, "reason")`.
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
# The token_maps.symbol column holds at most this many characters.
MAX_SYMBOL_CHARS = 64
# A revert reason kept in resolve_error; contracts can revert with long strings.
MAX_REASON_CHARS = 120
WORD = 32


@dataclass(frozen=True)
class TokenInfo:
    """Liquidity.getTokenInfo(tokenIndex): (tokenType, tokenAddress, tokenId)."""

    token_type: TokenType
    contract_address: str  # lowercase
    token_id: int


def revert_reason(result: CallResult) -> str:
    """A short description of a failed call's revert data."""
    data = result.return_data
    if data[:4] == ERROR_STRING_SELECTOR:
        try:
            (reason,) = decode(["string"], data[4:])
            return f"reverted: {reason[:MAX_REASON_CHARS]!r}"
        except (DecodingError, ValueError, OverflowError, UnicodeDecodeError):
            pass
    if not data:
        return "reverted without data (no such function, or a bare revert)"
    return f"reverted with data 0x{data[:4].hex()}..."


def decode_token_info(result: CallResult) -> tuple[TokenInfo | None, str | None]:
    if not result.success:
        return None, f"Liquidity.getTokenInfo {revert_reason(result)}"
    try:
        token_type, address, token_id = decode(["uint8", "address", "uint256"], result.return_data)
        return TokenInfo(TokenType(token_type), address.lower(), token_id), None
    except (DecodingError, ValueError, OverflowError):
        return None, "Liquidity.getTokenInfo returned data that is not (uint8, address, uint256)"


def decode_symbol(result: CallResult) -> tuple[str | None, str | None]:
    """symbol() as an ABI string or, as MKR and SAI return it, a bytes32 padded with NUL bytes."""
    if not result.success:
        return None, f"symbol() {revert_reason(result)}"
    data = result.return_data
    if not data:
        return None, "symbol() returned no data (no contract at the address, or no symbol function)"
    if len(data) == WORD:  # an ABI string takes at least two words (offset, length)
        raw = data.rstrip(b"\0")
    else:
        try:
            (text,) = decode(["string"], data)
        except (DecodingError, ValueError, OverflowError, UnicodeDecodeError):
            return None, f"symbol() returned {len(data)} bytes that are neither a string nor a bytes32"
        raw = text.encode()
    try:
        symbol = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "symbol() returned bytes that are not UTF-8 text"
    if not symbol or not symbol.isprintable():
        return None, "symbol() returned an empty or unprintable symbol"
    if len(symbol) > MAX_SYMBOL_CHARS:
        return None, f"symbol() returned {len(symbol)} characters (at most {MAX_SYMBOL_CHARS} are stored)"
    return symbol, None


def decode_decimals(result: CallResult) -> tuple[int | None, str | None]:
    """decimals(), a uint8 in the standard (some tokens declare uint256; a value above 255 is garbage)."""
    if not result.success:
        return None, f"decimals() {revert_reason(result)}"
    data = result.return_data
    if len(data) < WORD:
        return None, "decimals() returned no data (no contract at the address, or no decimals function)"
    value = int.from_bytes(data[:WORD], "big")
    if value > 255:
        return None, f"decimals() returned {value}, not a uint8"
    return value, None
