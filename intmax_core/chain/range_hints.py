"""Read an eth_getLogs error: was the request too big, and does the provider say what would fit?

Providers reject large log queries with free-text messages, and several put a usable range in
them. There is no standard code for this (Infura uses -32005, which also means "rate limited";
Ankr -32600; others -32000 or -32603), so the text is the only signal. The patterns follow
ponder-sh/ponder's getLogsRetryHelper, which collects the messages of about twenty providers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# Ankr says only "block range is too wide"; its documented eth_getLogs limit is 3,000 blocks.
ANKR_MAX_BLOCKS = 3_000
# Chainstack says only "Block range limit exceeded."; its plans allow 100 (free) or 10,000 (paid)
# blocks. A request already below the paid limit must be on the free plan.
CHAINSTACK_FREE_MAX_BLOCKS = 100
CHAINSTACK_PAID_MAX_BLOCKS = 10_000
# Merkle's message names its limit in words: "max is 10k blocks".
MERKLE_MAX_BLOCKS = 10_000
# Ankr answers with this JSON-RPC code ("invalid request") when the range is too wide.
ANKR_RANGE_ERROR_CODE = -32600


@dataclass(frozen=True)
class RangeHint:
    """A block span the provider suggests for the retry.

    `blocks` is a count of blocks (a request [a, b] spans b - a + 1). `is_cap` tells a stated
    plan limit, which holds for every later request too, from a range computed for this data only
    (Alchemy and Infura fit their suggestion to the 10,000-results limit of the failed query).
    """

    blocks: int
    is_cap: bool
    provider: str


_HEX = r"0x[0-9a-f]+"
# Numbers in messages come as "10000", "10,000", "10.000" or "10k".
_COUNT = r"(\d[\d,._]*k?)"


def _count(text: str) -> int:
    text = text.lower()
    multiplier = 1_000 if text.endswith("k") else 1
    return int(re.sub(r"[,._k]", "", text)) * multiplier


def _span(match: re.Match[str]) -> int:
    return int(match.group(2), 16) - int(match.group(1), 16) + 1


_HintRule = tuple[str, re.Pattern[str], Callable[[re.Match[str]], int], bool]


def _cap(provider: str, pattern: str) -> _HintRule:
    """A provider that states its plan cap as a number in the message (the pattern's one group)."""
    return (provider, re.compile(pattern, re.I), lambda m: _count(m.group(1)), True)


# (provider, pattern, blocks from the match, is a plan cap). Order matters: a message that carries an
# explicit range must be read by the pattern that understands it, before a vaguer one matches.
_HINT_RULES: list[_HintRule] = [
    # "Log response size exceeded. ... this block range should work: [0x1, 0x2]"
    ("alchemy", re.compile(rf"this block range should work: \[({_HEX}),\s*({_HEX})\]", re.I), _span, False),
    # "query returned more than 10000 results. Try with this block range [0x1, 0x2]."
    ("infura", re.compile(rf"try with this block range \[({_HEX}),\s*({_HEX})\]", re.I), _span, False),
    # "requested too many blocks from 1 to 5000, maximum is set to 2048"
    _cap("avalanche", rf"requested too many blocks from \d+ to \d+, maximum is set to {_COUNT}"),
    # "eth_getLogs is limited to a 10,000 range" (also 1RPC and Blast)
    _cap("quicknode", rf"limited to a {_COUNT}"),
    _cap("blockpi", rf"limited to {_COUNT} block"),
    _cap("cloudflare", rf"max range: {_COUNT}"),
    _cap("thirdweb", rf"maximum allowed number of requested blocks is {_COUNT}"),
    _cap("coinbase", rf"please limit the query to at most {_COUNT} blocks"),
    _cap("publicnode", rf"maximum block range: {_COUNT}"),
    _cap("hyperliquid", rf"query exceeds max block range {_COUNT}"),
    _cap("swell", rf"block range greater than {_COUNT} max"),
    _cap("somnia", rf"block range exceeds {_COUNT}"),
    _cap("harmony", rf"query must be smaller than size {_COUNT}"),
    _cap("moonriver", rf"block range is too wide \(maximum {_COUNT}\)"),
    _cap("aurora", rf"up to a {_COUNT} block range"),
    # "maximum [from, to] blocks distance: 1000": to - from <= d. Reading d as a count stays inside it.
    _cap("ankr-tac", rf"maximum \[from, to\] blocks distance: {_COUNT}"),
    _cap("blast-paid", rf"exceeds the range allowed for your plan \(\d+ > {_COUNT}\)"),
    (
        "merkle",
        re.compile(r"eth_getLogs range is too large, max is 10k blocks", re.I),
        lambda m: MERKLE_MAX_BLOCKS,
        True,
    ),
]

# Messages that say "this request is too big" without a number: halve and retry. Lowercase substrings.
# Each names the size as the problem: "block range" alone is no such marker, because nodes also
# name the range when it is invalid ("invalid block range params" for fromBlock > toBlock, "block
# range extends beyond current head block"), which no smaller request fixes.
_OVERSIZED_MARKERS = (
    "too many results",
    "query returned more than",
    "query exceeds max results",
    "logs matched by query exceeds limit",
    "response size exceeded",
    "response size should not greater than",
    "response too large",
    "range too large",
    "range is too large",
    "range too wide",
    "range is too wide",
    # Chainstack, whose limit suggested_range infers from the refused span.
    "block range limit exceeded",
    # "Query timeout exceeded. Consider reducing your block range"
    "reducing your block range",
    "reduce your block range",
)


def suggested_range(message: str, code: int | None, requested_blocks: int) -> RangeHint | None:
    """The span the provider's error `message` suggests, if it suggests one.

    `requested_blocks` is the span of the failed request; Chainstack's limit is inferred from it.
    """
    for provider, pattern, blocks_of, is_cap in _HINT_RULES:
        match = pattern.search(message)
        if match:
            return RangeHint(max(1, blocks_of(match)), is_cap, provider)
    lowered = message.lower()
    if "block range is too wide" in lowered and code == ANKR_RANGE_ERROR_CODE:
        return RangeHint(ANKR_MAX_BLOCKS, True, "ankr")
    if "block range limit exceeded" in lowered:
        limit = (
            CHAINSTACK_FREE_MAX_BLOCKS if requested_blocks <= CHAINSTACK_PAID_MAX_BLOCKS else CHAINSTACK_PAID_MAX_BLOCKS
        )
        return RangeHint(limit, True, "chainstack")
    return None


def is_oversized_request(message: str) -> bool:
    """Whether `message` rejects a request for its size (block range or result count), not for load.

    Such a request fails the same way however often it is retried; only a smaller one can succeed.
    """
    lowered = message.lower()
    if any(marker in lowered for marker in _OVERSIZED_MARKERS):
        return True
    return any(pattern.search(message) for _, pattern, _, _ in _HINT_RULES)
