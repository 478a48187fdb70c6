"""What the chain says about a ledger row's nonce: mined, free, taken by another transaction, or unknown.

A row that has attempts at nonce N is in one of these states, and only these:

    Mined       an attempt's receipt was read                 -> wait for depth, record the result
    NonceFree   the signer's count at block B is <= N          -> resume on N (a replacement: at most
                (nothing of the signer is mined at N yet)         one transaction at N can be mined)
    NonceTaken  another transaction of the signer used N, seen -> drop the row's attempts; start over
                in block M, and M is `confirmations` deep         with a new nonce
    Unknown     anything else                                  -> change nothing; the next send
                                                                  reconciles again

The order matters. The count is read first, pinned to a block B, and the receipts after it: a
transaction mined between the two reads then shows up as a receipt, never as "count moved, no
receipt". A missing receipt is not evidence: a node behind a load balancer may lag, or fail.
So when the count has moved past N and no receipt was found, the block M at which the count
moved is searched (eth_getTransactionCount at past blocks, from the head seen before the first
broadcast) and read in full: the signer's transaction with nonce N in it is either one of the
row's attempts (mined, whatever the receipt lookups said) or positively another one. A failed
lookup anywhere makes the state Unknown; nothing is dropped on a guess. (While the count is still
<= N, failed receipt lookups do not matter: resuming on N is a replacement, safe either way.)
The search needs the account state at the blocks since the first broadcast: any node for a
recent crash, an archive node for one reconciled long after (else the row stays Unknown).

A receipt counts (`Confirmation.DEEP`) once its block is `confirmations` deep *and* still the
canonical block at its height: a receipt served by a lagging node, or one read just before a
reorg, is otherwise indistinguishable from a real one.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.rpc_errors import RpcError, RpcUnavailable


@dataclass(frozen=True)
class Mined:
    receipt: dict[str, Any]  # the node's receipt, plus "hash": the attempt's hash as recorded


@dataclass(frozen=True)
class NonceFree:
    chain_nonce: int


@dataclass(frozen=True)
class NonceTaken:
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Unknown:
    reason: str


Observation = Mined | NonceFree | NonceTaken | Unknown


class Confirmation(enum.Enum):
    DEEP = "deep"  # at the required depth, in the canonical chain
    SHALLOW = "shallow"  # mined, not deep enough yet
    GONE = "gone"  # its block is no longer canonical (a reorg)
    UNKNOWN = "unknown"  # the head or the block could not be read


class _LookupFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Reconciler:
    """Chain observations for one signer. Reads only; the sender decides and writes."""

    def __init__(self, client: RpcClient, signer: str, confirmations: int) -> None:
        self.client = client
        self.signer = signer.lower()
        self.confirmations = confirmations

    # ------------------------------------------------------------------------------ observations

    def observe(self, nonce: int, hashes: Sequence[str], search_from: int | None) -> Observation:
        """The state of `nonce`, whose attempts are `hashes` (all of them, any order).

        `search_from`: a block at or before which the nonce was still free (the head seen before
        the first attempt was broadcast), where a search for the nonce's use starts; None = genesis.
        """
        try:
            head = self.client.block_number()
            count = self._count_at(head)
        except (RpcUnavailable, RpcError) as error:
            return Unknown(f"cannot read the signer's nonce: {error}")
        try:
            receipt = self._receipt_of_any(hashes)
        except _LookupFailed as failure:
            if count <= nonce:
                # Nothing is mined at the nonce as of `head`; a replacement on it stays safe.
                return NonceFree(count)
            return Unknown(failure.reason)
        if receipt is not None:
            return Mined(receipt)
        if count <= nonce:
            return NonceFree(count)
        try:
            return self._nonce_user(nonce, hashes, head, search_from)
        except _LookupFailed as failure:
            return Unknown(failure.reason)

    def find_receipt(self, hashes: Sequence[str]) -> dict[str, Any] | None:
        """The receipt of whichever of `hashes` was mined, or None: not found, or not readable now."""
        try:
            return self._receipt_of_any(hashes)
        except _LookupFailed:
            return None

    def confirmation(self, receipt: dict[str, Any]) -> tuple[Confirmation, int]:
        """(state, depth) of a receipt: the head is read first, then the receipt's block is checked."""
        block_number = int(receipt["blockNumber"], 16)
        try:
            depth = self.client.block_number() - block_number + 1
            if depth < self.confirmations:
                return Confirmation.SHALLOW, depth
            block = self.client.call("eth_getBlockByNumber", [hex(block_number), False])
        except (RpcUnavailable, RpcError):
            return Confirmation.UNKNOWN, 0
        if not block or str(block.get("hash", "")).lower() != str(receipt["blockHash"]).lower():
            return Confirmation.GONE, depth
        return Confirmation.DEEP, depth

    def chain_nonce(self) -> int:
        return int(self.client.call("eth_getTransactionCount", [self.signer, "latest"]), 16)

    def known_to_node(self, hashes: Sequence[str]) -> bool:
        """Whether the node has any of `hashes` (in its mempool, or mined). Raises RpcUnavailable."""
        return any(self.client.call("eth_getTransactionByHash", [tx_hash]) for tx_hash in hashes)

    # ------------------------------------------------------------------------------ internals

    def _count_at(self, block: int) -> int:
        return int(self.client.call("eth_getTransactionCount", [self.signer, hex(block)]), 16)

    def _receipt_of_any(self, hashes: Sequence[str]) -> dict[str, Any] | None:
        """At most one of `hashes` can be mined (they share a nonce). Raises _LookupFailed."""
        failures = []
        for tx_hash in hashes:
            try:
                receipt = self.client.call("eth_getTransactionReceipt", [tx_hash])
            except (RpcUnavailable, RpcError) as error:
                failures.append(f"{tx_hash}: {error}")
                continue
            if receipt:
                return {**receipt, "hash": tx_hash}
        if failures:
            raise _LookupFailed("receipt lookups failed: " + "; ".join(failures))
        return None

    def _nonce_user(self, nonce: int, hashes: Sequence[str], head: int, search_from: int | None) -> Observation:
        """Find the block where the count moved past `nonce`, and the signer's transaction in it."""
        try:
            block_number = self._block_using(nonce, head, search_from)
            block = self.client.call("eth_getBlockByNumber", [hex(block_number), True])
        except (RpcUnavailable, RpcError) as error:
            raise _LookupFailed(f"cannot find the block that used nonce {nonce}: {error}") from None
        if not block:
            raise _LookupFailed(f"block {block_number} is not available")
        user = next(
            (
                tx
                for tx in block.get("transactions") or []
                if isinstance(tx, dict)
                and str(tx.get("from", "")).lower() == self.signer
                and int(tx.get("nonce", "0x0"), 16) == nonce
            ),
            None,
        )
        if user is None:
            raise _LookupFailed(f"no transaction with nonce {nonce} in block {block_number} (a reorg?)")
        tx_hash = str(user["hash"]).lower()
        if tx_hash in {h.lower() for h in hashes}:
            receipt = self._receipt_of_any([tx_hash])
            if receipt is None:
                raise _LookupFailed(f"{tx_hash} is in block {block_number}, but its receipt is not available yet")
            return Mined(receipt)
        if head - block_number + 1 < self.confirmations:
            raise _LookupFailed(f"nonce {nonce} was used by {tx_hash} in block {block_number}, not yet final")
        return NonceTaken(block_number, tx_hash)

    def _block_using(self, nonce: int, head: int, search_from: int | None) -> int:
        """The first block whose post-state count exceeds `nonce` (count(head) > nonce is known)."""
        low = max(min(search_from, head) - 1, 0) if search_from is not None else 0
        while low > 0 and self._count_at(low) > nonce:
            low = max(low - 2 * (head - low), 0)  # the nonce moved earlier than expected: widen
        if low == 0 and self._count_at(0) > nonce:
            raise _LookupFailed(f"the count exceeds {nonce} already at genesis")
        high = head  # invariant: count(low) <= nonce < count(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self._count_at(middle) > nonce:
                high = middle
            else:
                low = middle
        return high
