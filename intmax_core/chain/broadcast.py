"""Fees, signing input and broadcasting of one attempt; what the node's answer to a broadcast means.

Fees follow intmax_core.chain.fees (docs/protocol.md §2): EIP-1559 on L1, legacy type 0 on Scroll, scaled by
`1 + k * step` for attempt k and bumped past the previous attempt at the same nonce, then held
under the policy's ceiling. Nothing here touches the ledger or decides what to do next; the
sender does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from intmax_core.chain import fees
from intmax_core.chain.errors import EXECUTION_REVERTED_CODE
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.rpc_errors import RpcError, RpcUnavailable
from intmax_core.chain.send_policy import SendPolicy

# Fallback tip when a node answers neither eth_maxPriorityFeePerGas nor eth_feeHistory (ethers' default).
FALLBACK_PRIORITY_FEE_WEI = 10**9
FEE_HISTORY_BLOCKS = 5
FEE_HISTORY_PERCENTILE = 50


class BroadcastRejection(enum.Enum):
    """Why eth_sendRawTransaction refused a transaction."""

    ALREADY_KNOWN = "already_known"  # the node has this exact transaction: as good as accepted
    NONCE_TOO_LOW = "nonce_too_low"  # something was mined at this nonce: reconcile
    UNDERPRICED = "underpriced"  # replacement or pool-minimum fee too low: bump and retry
    REVERTED = "reverted"  # the node simulated it and it reverts
    OTHER = "other"  # insufficient funds, gas limit, malformed...: give up for now


# Codes under which nodes report txpool rejections: geth and Scroll's l2geth use -32000 ("server
# error") for all of them, anvil and reth -32003 ("transaction rejected", EIP-1474), Nethermind
# and OpenEthereum -32010. The code says "rejected", never why, so for these codes only, the
# reason is read from the message: the txpool's error constants (geth core/txpool/errors.go and
# core/error.go), which the other clients reproduce verbatim for compatibility.
TXPOOL_REJECTION_CODES = frozenset({-32000, -32003, -32010})
TXPOOL_REASONS: tuple[tuple[str, BroadcastRejection], ...] = (
    ("already known", BroadcastRejection.ALREADY_KNOWN),  # geth ErrAlreadyKnown
    ("known transaction", BroadcastRejection.ALREADY_KNOWN),  # older geth, Nethermind
    ("transaction already imported", BroadcastRejection.ALREADY_KNOWN),  # anvil
    ("nonce too low", BroadcastRejection.NONCE_TOO_LOW),  # geth ErrNonceTooLow
    ("replacement transaction underpriced", BroadcastRejection.UNDERPRICED),  # geth ErrReplaceUnderpriced
    ("transaction underpriced", BroadcastRejection.UNDERPRICED),  # geth ErrUnderpriced (pool minimum)
    ("max fee per gas less than block base fee", BroadcastRejection.UNDERPRICED),  # geth ErrFeeCapTooLow
)


def classify_broadcast_error(error: RpcError) -> BroadcastRejection:
    if error.code == EXECUTION_REVERTED_CODE:
        return BroadcastRejection.REVERTED
    if error.code in TXPOOL_REJECTION_CODES:
        message = error.message.lower()
        for prefix, rejection in TXPOOL_REASONS:
            if message.startswith(prefix):
                return rejection
    return BroadcastRejection.OTHER


@dataclass(frozen=True)
class AttemptFees:
    tx_type: int
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    # The head when the fees were read: a lower bound for the block that will use the nonce.
    head_block: int | None = None

    def columns(self) -> dict[str, int | None]:
        """The ledger's fee columns (transactions and transaction_attempts share the names)."""
        return {
            "tx_type": self.tx_type,
            "gas_price": self.gas_price,
            "max_fee_per_gas": self.max_fee_per_gas,
            "max_priority_fee_per_gas": self.max_priority_fee_per_gas,
        }


@dataclass(frozen=True)
class PreviousFees:
    """The fees of the previous attempt at the same nonce, which a replacement must outbid."""

    gas_price: int | None
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None


class FeeOracle:
    """Fees of attempt k at a nonce, from the node's current suggestion and the previous attempt."""

    def __init__(self, client: RpcClient, policy: SendPolicy) -> None:
        self.client = client
        self.policy = policy

    def fees(self, attempt: int, previous: PreviousFees | None) -> AttemptFees:
        step = self.policy.gas_multiplier_step
        block = self.client.call("eth_getBlockByNumber", ["latest", False])
        head = int(block["number"], 16)
        base_fee = int(block.get("baseFeePerGas") or "0x0", 16)
        priority = self._priority_fee()
        if self.policy.fee_mode == "legacy":
            node = fees.LegacyNodeFees(base_fee, int(self.client.call("eth_gasPrice"), 16), priority)
            prev_price = previous.gas_price if previous is not None else None
            price = fees.legacy_gas_price(node, attempt, step, self.policy.scroll_gas_multiplier, prev_price)
            return AttemptFees(tx_type=0, gas_price=self._capped(price), head_block=head)
        prev = None
        if previous is not None and previous.max_fee_per_gas is not None:
            prev = fees.Eip1559Fees(previous.max_fee_per_gas, previous.max_priority_fee_per_gas or 0)
        chosen = fees.eip1559_fees(fees.node_eip1559_fees(base_fee, priority), attempt, step, prev)
        max_fee = self._capped(chosen.max_fee_per_gas)
        return AttemptFees(
            tx_type=2,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=min(chosen.max_priority_fee_per_gas, max_fee),
            head_block=head,
        )

    def _capped(self, fee_per_gas: int) -> int:
        cap = self.policy.max_fee_per_gas
        return fee_per_gas if cap is None else min(fee_per_gas, cap)

    def _priority_fee(self) -> int:
        try:
            return int(self.client.call("eth_maxPriorityFeePerGas"), 16)
        except RpcError:
            pass
        try:
            history = self.client.call("eth_feeHistory", [hex(FEE_HISTORY_BLOCKS), "latest", [FEE_HISTORY_PERCENTILE]])
            rewards = sorted(int(reward[0], 16) for reward in history.get("reward") or [] if reward)
            if rewards:
                return rewards[len(rewards) // 2]
        except RpcError:
            pass
        return FALLBACK_PRIORITY_FEE_WEI


def build_transaction(
    *, chain_id: int, nonce: int, to: str, value: int, data: bytes, gas_limit: int, attempt_fees: AttemptFees
) -> dict[str, Any]:
    """The transaction dict the signer signs."""
    transaction: dict[str, Any] = {
        "chainId": chain_id,
        "nonce": nonce,
        "to": to_checksum_address(to),
        "value": value,
        "data": data,
        "gas": gas_limit,
    }
    if attempt_fees.tx_type == 0:
        transaction["gasPrice"] = attempt_fees.gas_price
    else:
        transaction["type"] = 2
        transaction["maxFeePerGas"] = attempt_fees.max_fee_per_gas
        transaction["maxPriorityFeePerGas"] = attempt_fees.max_priority_fee_per_gas
    return transaction


@dataclass(frozen=True)
class BroadcastResult:
    """What eth_sendRawTransaction said. `rejection` is None when the node took it (or may have)."""

    rejection: BroadcastRejection | None = None
    error: RpcError | None = None
    # Set when the node's answer was lost: the transaction may or may not have reached it.
    unavailable: str | None = None

    @property
    def message(self) -> str | None:
        return self.error.message if self.error is not None else self.unavailable


def broadcast(client: RpcClient, raw: bytes) -> BroadcastResult:
    try:
        client.call("eth_sendRawTransaction", ["0x" + raw.hex()])
    except RpcUnavailable as error:
        return BroadcastResult(unavailable=str(error))
    except RpcError as error:
        rejection = classify_broadcast_error(error)
        if rejection is BroadcastRejection.ALREADY_KNOWN:
            return BroadcastResult(error=error)
        return BroadcastResult(rejection=rejection, error=error)
    return BroadcastResult()
