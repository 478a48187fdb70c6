"""Builders' L2 ETH balances, all in one `eth_call` through Multicall3's `getEthBalance`.

The read is retried a few times a second apart; if it still fails, `BalanceReadError` says that
nothing is known. The caller must then leave every verdict as it was: a node that is down is not a
reason to declare every builder broke (the original counted it as a failed check for everyone,
emptying the builder list). A single inner call that fails is an unreadable balance for that
builder only, which does fail its check.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from eth_abi import decode, encode

from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.rpc_errors import RpcError, RpcUnavailable
from intmax_core.tokens.multicall import ContractCall, MulticallError, aggregate3, selector

GET_ETH_BALANCE = selector("getEthBalance(address)")
READ_ATTEMPTS = 3
READ_PAUSE_SECONDS = 1.0


class BalanceReadError(RuntimeError):
    """No balance could be read at all (RPC or Multicall3 failure): nothing is known."""


def read_eth_balances(
    client: RpcClient,
    multicall: str,
    addresses: Sequence[str],
    *,
    attempts: int = READ_ATTEMPTS,
    pause_seconds: float = READ_PAUSE_SECONDS,
) -> dict[str, int | None]:
    """address -> wei (None where that one call failed). Raises BalanceReadError when the read fails whole."""
    if not addresses:
        return {}
    calls = [ContractCall(multicall, GET_ETH_BALANCE + encode(["address"], [address])) for address in addresses]
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause_seconds)
        try:
            results = aggregate3(client, multicall, calls)
        except (RpcError, RpcUnavailable, MulticallError) as error:
            problem = str(error)
            continue
        return {
            address: decode(["uint256"], result.return_data)[0]
            if result.success and len(result.return_data) == 32
            else None
            for address, result in zip(addresses, results, strict=True)
        }
    raise BalanceReadError(f"L2 balances unreadable after {attempts} attempts: {problem}")
