"""One health check of a set of builders: load, judge, write; shared by the scheduled asset and the
API's cache validator."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import httpx
from sqlalchemy import Engine

from intmax_core.builders.balances import read_eth_balances
from intmax_core.builders.health import BuilderRecord, HealthPolicy, Verdict, judge_builders
from intmax_core.builders.store import load_builders, write_verdicts
from intmax_core.chain.rpc import RpcClient


@dataclass(frozen=True)
class HealthReport:
    verdicts: list[Verdict]

    @property
    def active(self) -> int:
        return sum(verdict.active for verdict in self.verdicts)

    @property
    def inactive(self) -> int:
        return len(self.verdicts) - self.active

    def failed_checks(self) -> Counter[str]:
        """How many builders failed each check (a builder failing two checks counts in both)."""
        return Counter(
            check for verdict in self.verdicts for check in dict.fromkeys(failure.check for failure in verdict.failures)
        )


async def check_builders(
    engine: Engine,
    policy: HealthPolicy,
    l2: RpcClient,
    multicall: str,
    http: httpx.AsyncClient,
    now: datetime,
    addresses: Sequence[str] | None = None,
) -> HealthReport:
    """Judge every builder (or those of `addresses`) and write the verdicts in one transaction.

    Raises BalanceReadError, writing nothing, when the L2 balances cannot be read at all."""
    records = await asyncio.to_thread(_load, engine, addresses)
    verdicts = await judge_builders(
        records, policy, now, http=http, read_balances=partial(read_eth_balances, l2, multicall)
    )
    await asyncio.to_thread(write_verdicts, engine, verdicts, now)
    return HealthReport(verdicts)


def _load(engine: Engine, addresses: Sequence[str] | None) -> list[BuilderRecord]:
    with engine.connect() as connection:
        return load_builders(connection, addresses)
