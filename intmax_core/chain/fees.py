"""Gas prices per attempt, exactly as the original services computed them (docs/protocol.md §2).

Attempt k (0-based) scales the node's fees by m = 1 + k * step, applied in integer arithmetic as
`value * round(m * 10) // 10`. From the second attempt on, fees never go below the previous
attempt's: a replacement must outbid the transaction it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# The originals' TRANSACTION_INCREMENT_RATE (function services) and the step of the mock relayers
# and the withdrawal processor.
FUNCTION_SERVICES_STEP = Decimal("0.3")
RELAYER_STEP = Decimal("0.2")
# SCROLL_GAS_MULTIPLIER: the legacy (Scroll) gas price is the base price times this.
DEFAULT_SCROLL_GAS_MULTIPLIER = Decimal("2")
# maxFeePerGas = 2 * baseFee + tip, the usual wallet rule (ethers' getFeeData): it stays valid
# through about six consecutive full blocks, each raising the base fee by 12.5%.
BASE_FEE_HEADROOM = 2


def tenths(multiplier: Decimal | str | float) -> int:
    """round(multiplier * 10), half up like JavaScript's Math.round, computed exactly in decimal."""
    return int((Decimal(str(multiplier)) * 10).to_integral_value(rounding=ROUND_HALF_UP))


def attempt_multiplier(attempt: int, step: Decimal | str | float) -> Decimal:
    """m = 1 + attempt * step."""
    if attempt < 0:
        raise ValueError("attempt numbers start at 0")
    return 1 + attempt * Decimal(str(step))


def scale(value: int, multiplier: Decimal | str | float) -> int:
    """value * round(multiplier * 10) / 10, in integers (floor, as BigInt division does)."""
    return value * tenths(multiplier) // 10


@dataclass(frozen=True)
class Eip1559Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True)
class LegacyNodeFees:
    """What the node says, for the legacy path: latest block's base fee, eth_gasPrice, eth_maxPriorityFeePerGas."""

    base_fee_per_gas: int
    gas_price: int
    max_priority_fee_per_gas: int


def eip1559_fees(
    node: Eip1559Fees, attempt: int, step: Decimal | str | float, previous: Eip1559Fees | None = None
) -> Eip1559Fees:
    """Type-2 fees for `attempt`: the node's fees scaled by m; then, against the previous attempt,
    maxFee = prev + 1 wei if prev > current else current, and priority = max(prev, current)."""
    multiplier = attempt_multiplier(attempt, step)
    max_fee = scale(node.max_fee_per_gas, multiplier)
    priority = scale(node.max_priority_fee_per_gas, multiplier)
    if previous is not None:
        max_fee = previous.max_fee_per_gas + 1 if previous.max_fee_per_gas > max_fee else max_fee
        priority = max(previous.max_priority_fee_per_gas, priority)
    # A node rejects maxPriorityFeePerGas above maxFeePerGas; it only happens with odd node data.
    return Eip1559Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(priority, max_fee))


def legacy_gas_price(
    node: LegacyNodeFees,
    attempt: int,
    step: Decimal | str | float,
    scroll_gas_multiplier: Decimal | str | float = DEFAULT_SCROLL_GAS_MULTIPLIER,
    previous: int | None = None,
) -> int:
    """Type-0 gas price for `attempt`: base = max(baseFee, gasPrice);
    p = base * round(SCROLL_GAS_MULTIPLIER * 10) / 10 + maxPriorityFeePerGas; price = p * round(m * 10) / 10;
    then prev + 1 if prev > price."""
    base = max(node.base_fee_per_gas, node.gas_price)
    price = scale(base, scroll_gas_multiplier) + node.max_priority_fee_per_gas
    price = scale(price, attempt_multiplier(attempt, step))
    if previous is not None and previous > price:
        return previous + 1
    return price


def node_eip1559_fees(base_fee_per_gas: int, max_priority_fee_per_gas: int) -> Eip1559Fees:
    """The node's fee data as a wallet reads it: tip from eth_maxPriorityFeePerGas, cap 2 * baseFee + tip."""
    return Eip1559Fees(
        max_fee_per_gas=BASE_FEE_HEADROOM * base_fee_per_gas + max_priority_fee_per_gas,
        max_priority_fee_per_gas=max_priority_fee_per_gas,
    )
