"""The builder's `GET {url}/fee-info` and what a healthy answer must say.

A builder answers `{"version", "blockBuilderAddress", "beneficiary", "registrationFee": [{"token_index",
"amount"}], "nonRegistrationFee": [...], "registrationCollateralFee": [...] | null,
"nonRegistrationCollateralFee": [...] | null}`. It passes when the version is at least the required
one (semver, so 0.1.0-beta < 0.1.0) and every registration and non-registration fee entry names an
allowed token index with an amount at most the cap. Collateral fees are not judged (nor were they
in the original). The request gets a timeout and a few attempts a second apart: a builder that
answers only the third time is healthy, one that never answers is not.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import httpx

SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
FEE_LISTS = ("registrationFee", "nonRegistrationFee")


@dataclass(frozen=True)
class Failure:
    """One failed health check: a stable code (for counting and SQL) and what exactly was wrong."""

    check: str
    detail: str


@dataclass(frozen=True)
class FeePolicy:
    required_version: str
    allowed_token_indices: frozenset[int]
    max_fee_amount: int
    timeout_seconds: float = 5.0
    attempts: int = 3
    retry_pause_seconds: float = 1.0


@dataclass(frozen=True)
class FeeInfoResult:
    failures: tuple[Failure, ...]
    version: str | None = None


def version_at_least(version: str, required: str) -> bool:
    """semver `version >= required`; a pre-release sorts before its release, as in node-semver."""
    have, need = SEMVER.match(version), SEMVER.match(required)
    if have is None or need is None:
        raise ValueError(f"not a semantic version: {version if have is None else required!r}")
    have_core = tuple(int(part) for part in have.groups()[:3])
    need_core = tuple(int(part) for part in need.groups()[:3])
    if have_core != need_core:
        return have_core > need_core
    have_pre, need_pre = have.group(4), need.group(4)
    if have_pre is None or need_pre is None:
        return have_pre is None  # a release is above its pre-releases
    return _prerelease_key(have_pre) >= _prerelease_key(need_pre)


def _prerelease_key(text: str) -> tuple[tuple[int, int | str], ...]:
    # semver: numeric identifiers compare as numbers and sort before alphanumeric ones.
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in text.split("."))


def judge_fee_info(body: object, policy: FeePolicy) -> FeeInfoResult:
    """The failures of one /fee-info answer (empty when it passes)."""
    if not isinstance(body, dict):
        return FeeInfoResult((Failure("fee_info_invalid", "fee-info is not a JSON object"),))
    version = body.get("version")
    if not isinstance(version, str) or SEMVER.match(version) is None:
        return FeeInfoResult((Failure("fee_info_invalid", "fee-info has no semantic version"),))
    failures: list[Failure] = []
    if not version_at_least(version, policy.required_version):
        failures.append(Failure("version_too_old", f"version {version} is below {policy.required_version}"))
    for name in FEE_LISTS:
        entries = body.get(name)
        if not isinstance(entries, list):
            failures.append(Failure("fee_info_invalid", f"fee-info {name} is not a list"))
            continue
        for entry in entries:
            failures.extend(_judge_fee(name, entry, policy))
    return FeeInfoResult(tuple(failures), version)


def _judge_fee(name: str, entry: object, policy: FeePolicy) -> list[Failure]:
    token_index = entry.get("token_index") if isinstance(entry, dict) else None
    amount = _amount(entry.get("amount")) if isinstance(entry, dict) else None
    if not isinstance(token_index, int) or isinstance(token_index, bool) or amount is None:
        return [Failure("fee_info_invalid", f"fee-info {name} has an entry without token_index and amount")]
    failures = []
    if token_index not in policy.allowed_token_indices:
        failures.append(Failure("fee_token_not_allowed", f"{name} charges token index {token_index}"))
    if amount > policy.max_fee_amount:
        failures.append(Failure("fee_above_cap", f"{name} amount {amount} is above {policy.max_fee_amount}"))
    return failures


def _amount(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


async def check_fee_info(client: httpx.AsyncClient, url: str, policy: FeePolicy) -> FeeInfoResult:
    """GET {url}/fee-info (timeout, attempts a pause apart) and judge the answer."""
    last_problem = ""
    for attempt in range(policy.attempts):
        if attempt:
            await asyncio.sleep(policy.retry_pause_seconds)
        try:
            response = await client.get(
                url.rstrip("/") + "/fee-info", headers={"Accept": "application/json"}, timeout=policy.timeout_seconds
            )
        except httpx.HTTPError as error:
            last_problem = type(error).__name__  # ConnectError, ReadTimeout, RemoteProtocolError, ...
            continue
        if not response.is_success:
            last_problem = f"HTTP {response.status_code}"
            continue
        try:
            body = response.json()
        except ValueError:
            return FeeInfoResult((Failure("fee_info_invalid", "fee-info answered invalid JSON"),))
        return judge_fee_info(body, policy)
    detail = f"fee-info failed {policy.attempts} times (last: {last_problem})"
    return FeeInfoResult((Failure("fee_info_unreachable", detail),))
