"""How pending deposits are cut into `relayDeposits` batches (docs/protocol.md §8.1).

`Liquidity.relayDeposits(upToDepositId, gasLimit)` relays every queued deposit from the queue's
front (the last relayed id + 1) up to `upToDepositId`, skipping canceled ones, and refuses more
than RELAY_LIMIT = 450 hashes. Batches therefore start right after the on-chain last relayed id
(read from the chain, never guessed from a window of events) and span at most 450 ids, which
bounds the hashes even when nothing was canceled. `gasLimit` is the L2 gas the Rollup's
`processDeposits` may use; it is computed from the hashes the batch really carries.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from eth_abi import encode

RELAY_LIMIT = 450  # Liquidity.RELAY_LIMIT: deposit hashes per relayDeposits
BASE_GAS = 220_000
GAS_PER_DEPOSIT = 20_000
GAS_BUFFER = 100_000
RELAY_DEPOSITS = bytes.fromhex("76918c0d")  # relayDeposits(uint256,uint256)
GET_LAST_RELAYED_DEPOSIT_ID = "0x67517837"  # getLastRelayedDepositId()


def relay_gas_limit(hashes: int) -> int:
    """L2 gas for processDeposits with `hashes` deposit hashes: 220,000 + 20,000 x n + 100,000."""
    return BASE_GAS + GAS_PER_DEPOSIT * hashes + GAS_BUFFER


@dataclass(frozen=True)
class RelayBatch:
    first_deposit_id: int
    up_to_deposit_id: int
    hashes: int  # deposits carried: the ids in the range minus the canceled ones

    @property
    def gas_limit(self) -> int:
        return relay_gas_limit(self.hashes)

    @property
    def idempotency_key(self) -> str:
        # The up-to id names the batch for good: once relayed, the queue front is past it.
        return str(self.up_to_deposit_id)

    def calldata(self) -> bytes:
        return RELAY_DEPOSITS + encode(["uint256", "uint256"], [self.up_to_deposit_id, self.gas_limit])


def plan_batches(last_relayed: int, last_final: int, canceled: Collection[int] = ()) -> list[RelayBatch]:
    """Batches relaying ids last_relayed+1 .. last_final, at most RELAY_LIMIT ids each, in order."""
    batches = []
    for first in range(last_relayed + 1, last_final + 1, RELAY_LIMIT):
        up_to = min(first + RELAY_LIMIT - 1, last_final)
        hashes = sum(1 for deposit_id in range(first, up_to + 1) if deposit_id not in canceled)
        batches.append(RelayBatch(first, up_to, hashes))
    return batches
