"""What a builder's /fee-info must say to pass (semver, fee token indexes, fee cap), judged offline."""

from __future__ import annotations

import pytest

from intmax_core.builders.fee_info import FeePolicy, judge_fee_info, version_at_least

POLICY = FeePolicy(required_version="0.1.0", allowed_token_indices=frozenset({0, 1, 2}), max_fee_amount=2_500)


def fee_info(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "version": "0.1.1",
        "blockBuilderAddress": "0x" + "11" * 20,
        "beneficiary": "0x" + "22" * 20,
        "registrationFee": [{"token_index": 0, "amount": "2500"}],
        "nonRegistrationFee": [{"token_index": 2, "amount": "1000"}],
        "registrationCollateralFee": None,
        "nonRegistrationCollateralFee": [{"token_index": 9, "amount": "99999999"}],
    }
    return body | overrides


@pytest.mark.parametrize(
    ("version", "required", "expected"),
    [
        ("0.1.0", "0.1.0", True),
        ("0.1.1", "0.1.0", True),
        ("0.10.0", "0.9.9", True),  # numeric, not text, comparison
        ("1.0.0", "0.99.99", True),
        ("0.0.9", "0.1.0", False),
        ("0.1.0-beta", "0.1.0", False),  # a pre-release is below its release
        ("0.1.0-beta.11", "0.1.0-beta.2", True),  # numeric identifiers compare as numbers
        ("0.1.0-alpha", "0.1.0-beta", False),
        ("v0.2.0", "0.1.0", True),
        ("0.1.0+build.7", "0.1.0", True),
    ],
)
def test_version_at_least(version: str, required: str, expected: bool) -> None:
    assert version_at_least(version, required) is expected


def test_a_healthy_answer_passes_and_collateral_fees_are_not_judged() -> None:
    result = judge_fee_info(fee_info(), POLICY)
    assert result.failures == () and result.version == "0.1.1"


@pytest.mark.parametrize(
    ("overrides", "check", "detail"),
    [
        ({"version": "0.0.9"}, "version_too_old", "version 0.0.9 is below 0.1.0"),
        ({"nonRegistrationFee": [{"token_index": 0, "amount": "2501"}]}, "fee_above_cap", "amount 2501 is above 2500"),
        ({"registrationFee": [{"token_index": 3, "amount": "1"}]}, "fee_token_not_allowed", "token index 3"),
        ({"version": "latest"}, "fee_info_invalid", "no semantic version"),
        ({"registrationFee": None}, "fee_info_invalid", "registrationFee is not a list"),
        ({"registrationFee": [{"token_index": "0", "amount": "1"}]}, "fee_info_invalid", "without token_index"),
        ({"registrationFee": [{"token_index": 0, "amount": "-1"}]}, "fee_info_invalid", "without token_index"),
        ({"registrationFee": [{"token_index": True, "amount": "1"}]}, "fee_info_invalid", "without token_index"),
    ],
)
def test_each_failed_check_is_named_with_what_was_wrong(overrides: dict[str, object], check: str, detail: str) -> None:
    (failure,) = judge_fee_info(fee_info(**overrides), POLICY).failures
    assert failure.check == check and detail in failure.detail


def test_every_failure_of_one_answer_is_kept() -> None:
    body = fee_info(version="0.0.1", registrationFee=[{"token_index": 7, "amount": "9999"}])
    checks = [failure.check for failure in judge_fee_info(body, POLICY).failures]
    assert checks == ["version_too_old", "fee_token_not_allowed", "fee_above_cap"]


def test_an_answer_that_is_not_an_object_is_invalid() -> None:
    (failure,) = judge_fee_info(["0.1.0"], POLICY).failures
    assert failure.check == "fee_info_invalid"
