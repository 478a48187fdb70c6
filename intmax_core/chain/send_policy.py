"""How the transaction sender tries (attempts, fees, receipt waits) and what a revert means for a purpose.

A revert is one of three things, and only the caller knows which, per purpose:

- already done: the chain already reflects the action (the Scroll messengers' "Message was
  already successfully executed", `OutOfRange` for a deposit relay someone else made). The row is
  `settled`, which counts as success.
- may succeed later: the state the call needs is not there yet (a queue not yet filled, a
  dependency not yet processed). The row is `failed`, which is retryable: the next `send` of the
  key tries again.
- never will, as it is: everything else. The row is `parked` with the decoded error and an ERROR
  log line; nothing retries it until an operator re-queues it (`intmax tx requeue`).

Reverts are named by `Error(string)` reason or by 4-byte selector ("0x4a0dd9bd"), or by
custom-error name when the sender's ErrorRegistry knows the error ("OutOfRange").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from intmax_core.chain import fees
from intmax_core.chain.errors import DecodedRevert

DEFAULT_MAX_ATTEMPTS = 5  # the originals' attempts (docs/protocol.md §2)
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 30.0  # the function services' wait; the withdrawal processor used 15 s
DEFAULT_CONFIRMATIONS = 1
DEFAULT_POLL_INTERVAL_SECONDS = 0.5
# Another sender of the same signer may hold the lock through max_attempts receipt waits.
DEFAULT_LOCK_TIMEOUT_SECONDS = 600.0
# The string revert of the Scroll messengers for a message relayed before (docs/protocol.md §9).
MESSAGE_ALREADY_EXECUTED = "Message was already successfully executed"


class RevertClass(enum.Enum):
    ALREADY_DONE = "already_done"  # -> settled
    RETRYABLE = "retryable"  # -> failed (the next send tries again)
    NEVER = "never"  # -> parked (an operator re-queues)


def revert_names(names: Iterable[str]) -> frozenset[str]:
    """Normalise declared reverts: selectors lowercase; reasons and error names as given."""
    return frozenset(name.lower() if name.startswith("0x") else name for name in names)


def classify_revert(decoded: DecodedRevert, already_done: frozenset[str], retryable: frozenset[str]) -> RevertClass:
    names = {decoded.reason, decoded.selector, decoded.name} - {None}
    if names & already_done:
        return RevertClass.ALREADY_DONE
    if names & retryable:
        return RevertClass.RETRYABLE
    return RevertClass.NEVER


@dataclass(frozen=True)
class SendPolicy:
    """How hard to try. Build one per use: L1 EIP-1559 or L2 legacy."""

    fee_mode: Literal["eip1559", "legacy"] = "eip1559"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    gas_multiplier_step: Decimal = fees.FUNCTION_SERVICES_STEP
    scroll_gas_multiplier: Decimal = fees.DEFAULT_SCROLL_GAS_MULTIPLIER
    receipt_timeout_seconds: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS
    # A receipt counts once its block is this deep (1 = the head) and still canonical.
    confirmations: int = DEFAULT_CONFIRMATIONS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
    # Reverts that mean "already done" (-> settled) and "may succeed later" (-> failed, retried by
    # the next send); any other revert parks the row. See the module docstring.
    success_reverts: frozenset[str] = frozenset()
    retryable_reverts: frozenset[str] = frozenset()
    # The most this sender pays per gas (legacy gas price, or EIP-1559 max fee), whatever the
    # formulas say. The originals' formulas scale the node's suggestion, and a node whose
    # suggestion follows recent tips (anvil, a quiet chain) feeds them their own last bid: without
    # a ceiling the price compounds with every transaction. None = no ceiling.
    max_fee_per_gas: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.confirmations < 1:
            raise ValueError("max_attempts and confirmations must be at least 1")
