"""Judging block builders: which may be handed to wallets, and why the others may not.

A builder is active when
- its latest heartbeat is younger than the maximum age (24 h);
- it holds strictly more L2 ETH than the minimum (allowlisted builders too);
- and, unless it is allowlisted (addresses compared lowercase), its URL is https:// (a setting
  relaxes this on the devnet) and its `/fee-info` passes (fee_info.py).
Every failed check is kept as a `Failure`, so an operator sees why a builder is out, not just
that it is. Builders are checked concurrently, at most `concurrency` at a time (the original's
batches of 30, without waiting for a batch's slowest builder before starting the next).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import httpx

from intmax_core.builders.fee_info import Failure, FeeInfoResult, FeePolicy, check_fee_info
from intmax_core.config import Settings

WEI_PER_ETH = 10**18
# Every check a builder can fail (Failure.check), in the order they are applied.
CHECKS = (
    "stale_heartbeat",
    "not_https",
    "fee_info_unreachable",
    "fee_info_invalid",
    "version_too_old",
    "fee_token_not_allowed",
    "fee_above_cap",
    "balance_unreadable",
    "low_balance",
)
BalanceReader = Callable[[Sequence[str]], dict[str, int | None]]


@dataclass(frozen=True)
class HealthPolicy:
    allowlist: frozenset[str]
    min_eth_balance_wei: int
    require_https: bool
    heartbeat_max_age: timedelta
    concurrency: int
    fee: FeePolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> HealthPolicy:
        return cls(
            allowlist=frozenset(address.lower() for address in settings.block_builder_allowlist),
            min_eth_balance_wei=int(settings.block_builder_min_eth_balance * WEI_PER_ETH),
            require_https=settings.builder_require_https,
            heartbeat_max_age=timedelta(hours=settings.builder_heartbeat_max_age_hours),
            concurrency=settings.builder_check_concurrency,
            fee=FeePolicy(
                required_version=settings.block_builder_required_version,
                allowed_token_indices=frozenset(settings.block_builder_allowed_token_indices),
                max_fee_amount=settings.block_builder_max_fee_amount,
                timeout_seconds=settings.builder_fee_info_timeout_seconds,
                attempts=settings.builder_fee_info_attempts,
            ),
        )


@dataclass(frozen=True)
class BuilderRecord:
    address: str  # lowercase
    url: str
    last_synced_at: datetime  # block time of the latest heartbeat (aware, UTC)


@dataclass(frozen=True)
class Verdict:
    address: str
    failures: tuple[Failure, ...]
    version: str | None = None
    eth_balance_wei: int | None = None

    @property
    def active(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> str | None:
        return "; ".join(failure.detail for failure in self.failures) or None

    @property
    def checks(self) -> str | None:
        return ",".join(dict.fromkeys(failure.check for failure in self.failures)) or None


async def judge_builders(
    builders: Sequence[BuilderRecord],
    policy: HealthPolicy,
    now: datetime,
    *,
    http: httpx.AsyncClient,
    read_balances: BalanceReader,
) -> list[Verdict]:
    """A verdict for every builder, in the given order. Raises BalanceReadError when no balance is known."""
    fresh = [builder for builder in builders if now - builder.last_synced_at < policy.heartbeat_max_age]
    balances = await asyncio.to_thread(read_balances, [builder.address for builder in fresh]) if fresh else {}
    slots = asyncio.Semaphore(policy.concurrency)

    async def judge(builder: BuilderRecord) -> Verdict:
        age = now - builder.last_synced_at
        if age >= policy.heartbeat_max_age:
            hours = policy.heartbeat_max_age.total_seconds() / 3600
            detail = f"no heartbeat for {age.total_seconds() / 3600:.1f} h (at most {hours:g} h)"
            return Verdict(builder.address, (Failure("stale_heartbeat", detail),))
        fee_info = FeeInfoResult(())
        if builder.address not in policy.allowlist:
            if policy.require_https and not builder.url.lower().startswith("https://"):
                fee_info = FeeInfoResult((Failure("not_https", "URL is not https://"),))
            else:
                async with slots:
                    fee_info = await check_fee_info(http, builder.url, policy.fee)
        balance = balances.get(builder.address)
        return Verdict(
            builder.address,
            fee_info.failures + _balance_failures(balance, policy),
            fee_info.version,
            balance,
        )

    return list(await asyncio.gather(*(judge(builder) for builder in builders)))


def _balance_failures(balance: int | None, policy: HealthPolicy) -> tuple[Failure, ...]:
    if balance is None:
        return (Failure("balance_unreadable", "L2 ETH balance unreadable"),)
    if balance <= policy.min_eth_balance_wei:
        have, need = Decimal(balance) / WEI_PER_ETH, Decimal(policy.min_eth_balance_wei) / WEI_PER_ETH
        return (Failure("low_balance", f"L2 balance {have:f} ETH is not above {need:f} ETH"),)
    return ()
