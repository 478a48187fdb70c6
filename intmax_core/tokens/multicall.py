"""Read many contract calls in one `eth_call` through Multicall3's `aggregate3`, each allowed to fail.

Two kinds of failure are kept apart, because "unknown" must never be read as "no":
- one inner call failing (a revert, a missing function, no contract at the address) is a
  `CallResult` with `success=False`: an answer about that token;
- the `eth_call` itself failing (RPC error, timeout, node down, a Multicall3 that is missing or
  answers garbage) raises `MulticallError` / the RPC client's errors: nothing is known about any
  call, and the caller must not record anything as failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak

from intmax_core.chain.rpc import RpcClient

AGGREGATE3_SELECTOR = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
# Calls per eth_call: a few hundred small view calls stay far below a node's eth_call gas cap
# (anvil and geth default to the block gas limit; hosted providers allow at least 50M).
DEFAULT_CALLS_PER_MULTICALL = 500


class MulticallError(RuntimeError):
    """The multicall as a whole gave no usable answer (not a per-call failure)."""


@dataclass(frozen=True)
class ContractCall:
    target: str  # lowercase 0x address
    data: bytes  # selector + ABI-encoded arguments


@dataclass(frozen=True)
class CallResult:
    success: bool
    return_data: bytes


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def aggregate3(
    client: RpcClient,
    multicall: str,
    calls: Sequence[ContractCall],
    *,
    block: str = "latest",
    calls_per_multicall: int = DEFAULT_CALLS_PER_MULTICALL,
) -> list[CallResult]:
    """The result of every call, in order (allowFailure on each). Raises when an eth_call fails as a whole."""
    results: list[CallResult] = []
    for start in range(0, len(calls), calls_per_multicall):
        chunk = calls[start : start + calls_per_multicall]
        payload = encode(["(address,bool,bytes)[]"], [[(call.target, True, call.data) for call in chunk]])
        request = {"to": multicall, "data": "0x" + (AGGREGATE3_SELECTOR + payload).hex()}
        raw = client.call("eth_call", [request, block])
        results.extend(_decode(raw, len(chunk)))
    return results


def _decode(raw: object, expected: int) -> list[CallResult]:
    if not isinstance(raw, str) or not raw.startswith("0x"):
        raise MulticallError("Multicall3 aggregate3 answered something that is not hex data")
    data = bytes.fromhex(raw[2:])
    if not data:
        # No code at the Multicall3 address: a misconfigured INTMAX_L1_MULTICALL3_ADDRESS, not a token failure.
        raise MulticallError("Multicall3 aggregate3 returned no data: is INTMAX_L1_MULTICALL3_ADDRESS a Multicall3?")
    try:
        (items,) = decode(["(bool,bytes)[]"], data)
    except (DecodingError, ValueError, OverflowError) as error:
        raise MulticallError(f"Multicall3 aggregate3 returned undecodable data ({type(error).__name__})") from None
    if len(items) != expected:
        raise MulticallError(f"Multicall3 aggregate3 returned {len(items)} results for {expected} calls")
    return [CallResult(bool(success), bytes(data)) for success, data in items]
