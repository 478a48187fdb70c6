"""Gas price per attempt (docs/protocol.md §2): the x10 rounding, both paths, the bump rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from intmax_core.chain.fees import (
    FUNCTION_SERVICES_STEP,
    RELAYER_STEP,
    Eip1559Fees,
    LegacyNodeFees,
    attempt_multiplier,
    eip1559_fees,
    legacy_gas_price,
    node_eip1559_fees,
    scale,
    tenths,
)

GWEI = 10**9


def test_multipliers_are_the_originals_in_tenths() -> None:
    assert [tenths(attempt_multiplier(k, FUNCTION_SERVICES_STEP)) for k in range(5)] == [10, 13, 16, 19, 22]
    assert [tenths(attempt_multiplier(k, RELAYER_STEP)) for k in range(5)] == [10, 12, 14, 16, 18]
    # Binary floats would make 1 + 3 * 0.3 = 1.9000000000000001; the step is taken as a decimal.
    assert tenths(attempt_multiplier(3, 0.3)) == 19


def test_rounding_to_tenths_is_half_up_and_integer() -> None:
    assert tenths(Decimal("1.25")) == 13  # Math.round(12.5) = 13
    assert tenths(Decimal("1.24")) == 12
    assert tenths("2") == 20
    # value * round(m * 10) / 10 with integer (floor) division: never a float, exact at uint256 size.
    assert scale(7, Decimal("1.3")) == 9  # 7 * 13 // 10 = 9 (9.1 floored)
    assert scale(2**255, Decimal("1.9")) == 2**255 * 19 // 10
    assert scale(10, Decimal("1.25")) == 13


def test_eip1559_first_attempt_scales_both_node_fees() -> None:
    node = Eip1559Fees(max_fee_per_gas=30 * GWEI + 1, max_priority_fee_per_gas=2 * GWEI + 1)
    assert eip1559_fees(node, 0, FUNCTION_SERVICES_STEP) == node
    assert eip1559_fees(node, 2, FUNCTION_SERVICES_STEP) == Eip1559Fees(
        (30 * GWEI + 1) * 16 // 10, (2 * GWEI + 1) * 16 // 10
    )


def test_eip1559_bump_against_the_previous_attempt() -> None:
    step = FUNCTION_SERVICES_STEP
    # Fees fell since the previous attempt: maxFee = prev + 1 wei, priority = max(prev, cur).
    previous = Eip1559Fees(100 * GWEI, 5 * GWEI)
    fell = eip1559_fees(Eip1559Fees(20 * GWEI, 1 * GWEI), 1, step, previous)
    assert fell == Eip1559Fees(100 * GWEI + 1, 5 * GWEI)
    # Fees rose: the current (scaled) values win.
    rose = eip1559_fees(Eip1559Fees(100 * GWEI, 10 * GWEI), 1, step, Eip1559Fees(100 * GWEI, 5 * GWEI))
    assert rose == Eip1559Fees(130 * GWEI, 13 * GWEI)
    # Equal: the current value (not +1): the rule is prev > cur.
    same = eip1559_fees(Eip1559Fees(10 * GWEI, 1 * GWEI), 0, step, Eip1559Fees(10 * GWEI, 1 * GWEI))
    assert same == Eip1559Fees(10 * GWEI, 1 * GWEI)


def test_node_fee_data_is_twice_the_base_fee_plus_tip() -> None:
    assert node_eip1559_fees(7 * GWEI, 2 * GWEI) == Eip1559Fees(16 * GWEI, 2 * GWEI)


@pytest.mark.parametrize(
    ("base_fee", "gas_price", "expected_base"),
    [(3 * GWEI, 2 * GWEI, 3 * GWEI), (1 * GWEI, 2 * GWEI, 2 * GWEI)],
)
def test_legacy_price_uses_the_larger_of_base_fee_and_gas_price(
    base_fee: int, gas_price: int, expected_base: int
) -> None:
    node = LegacyNodeFees(base_fee_per_gas=base_fee, gas_price=gas_price, max_priority_fee_per_gas=GWEI // 10)
    # p = base * round(2.0 * 10) / 10 + tip; attempt 0: m = 1.
    assert legacy_gas_price(node, 0, RELAYER_STEP, Decimal("2")) == expected_base * 2 + GWEI // 10


def test_legacy_price_scales_by_attempt_and_by_scroll_multiplier_in_tenths() -> None:
    node = LegacyNodeFees(base_fee_per_gas=0, gas_price=1_000_000_007, max_priority_fee_per_gas=3)
    # SCROLL_GAS_MULTIPLIER 1.25 rounds to 13 tenths; attempt 2 with step 0.2 is 1.4 = 14 tenths.
    p = 1_000_000_007 * 13 // 10 + 3
    assert legacy_gas_price(node, 2, RELAYER_STEP, Decimal("1.25")) == p * 14 // 10


def test_legacy_bump_rule() -> None:
    node = LegacyNodeFees(base_fee_per_gas=GWEI, gas_price=GWEI, max_priority_fee_per_gas=0)
    current = legacy_gas_price(node, 1, FUNCTION_SERVICES_STEP, 2)
    assert current == GWEI * 2 * 13 // 10
    assert legacy_gas_price(node, 1, FUNCTION_SERVICES_STEP, 2, previous=current + 50) == current + 51
    assert legacy_gas_price(node, 1, FUNCTION_SERVICES_STEP, 2, previous=current) == current
    assert legacy_gas_price(node, 1, FUNCTION_SERVICES_STEP, 2, previous=current - 1) == current


def test_negative_attempt_is_rejected() -> None:
    with pytest.raises(ValueError, match="start at 0"):
        attempt_multiplier(-1, FUNCTION_SERVICES_STEP)
