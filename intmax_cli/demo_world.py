"""What the demo's observations read and report: the World (warehouse, API, devnet, what the demo
did), a Sighting of a stage, and a Stage (its track, asset, run sources, deadline, observer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from web3 import Web3

from intmax_cli.demo_claim import Claim
from intmax_cli.demo_runs import RunSource
from intmax_core.devnet_manifest import DevnetManifest
from intmax_core.warehouse.aggregator_tables import withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.schema import withdrawals
from intmax_devnet.deployer import contract_at
from intmax_devnet.devnet import web3_for
from intmax_devnet.simulator import SimulationReport

API_TIMEOUT_SECONDS = 10.0
TOKEN_SYMBOLS = {0: "ETH", 1: "ITX", 2: "WBTC", 3: "USDC"}
PROVED_GROUP_STATUSES = ("submitting", "submitted")


def short(value: str) -> str:
    return f"{value[:6]}…{value[-4:]}" if len(value) > 12 else value


@dataclass
class World:
    """What the observations read: the warehouse, the API, the devnet and what the demo did."""

    engine: Engine
    api_url: str  # http://host:port/v1
    manifest: DevnetManifest
    report: SimulationReport
    api: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=API_TIMEOUT_SECONDS))
    claim: Claim | None = None
    notes: dict[str, str] = field(default_factory=dict)  # why a stage is not there yet (shown on failure)
    receipts: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Any:
        answer = self.api.get(f"{self.api_url}{path}")
        answer.raise_for_status()
        return answer.json()

    def withdrawal_rows(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(withdrawals.c.withdrawal_hash, withdrawals.c.status, withdrawals.c.contract_withdrawal)
                .add_columns(withdrawals.c.l1_tx_hash)
                .where(withdrawals.c.withdrawal_hash.in_(self.report.withdrawal_hashes))
            ).mappings()
            return {row["withdrawal_hash"]: {**row, "status": str(row["status"])} for row in rows}

    @cached_property
    def l1(self) -> Web3:
        return web3_for(self.manifest.l1.rpc_url)

    @cached_property
    def liquidity(self) -> Any:
        entry = self.manifest.contracts["liquidity"]
        return contract_at(self.l1, entry.contract, entry.address)

    def sent_receipts(self, purpose: str) -> list[tuple[str, Any]]:
        """(tx hash, L1 receipt) of every mined transaction the pipeline's ledger holds for `purpose`."""
        with self.engine.connect() as connection:
            tx_hashes = list(
                connection.execute(
                    select(transactions.c.tx_hash)
                    .where(transactions.c.purpose == purpose)
                    .where(transactions.c.status.in_(("confirmed", "settled")))
                    .where(transactions.c.tx_hash.is_not(None))
                    .order_by(transactions.c.id)
                ).scalars()
            )
        for tx_hash in tx_hashes:
            if tx_hash not in self.receipts:  # a mined receipt never changes (anvil does not reorg)
                self.receipts[tx_hash] = self.l1.eth.get_transaction_receipt(tx_hash)
        return [(tx_hash, self.receipts[tx_hash]) for tx_hash in tx_hashes]

    def live_groups(self) -> list[dict[str, Any]]:
        """The groups that hold the demo's withdrawals and have not let them go."""
        query = (
            select(withdrawal_groups, func.count().label("ours"))
            .join(withdrawal_group_members, withdrawal_group_members.c.group_id == withdrawal_groups.c.group_id)
            .where(withdrawal_group_members.c.withdrawal_hash.in_(self.report.withdrawal_hashes))
            .where(withdrawal_group_members.c.released_at.is_(None))
            .group_by(withdrawal_groups.c.group_id)
            .order_by(withdrawal_groups.c.created_at)
        )
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]


@dataclass(frozen=True)
class Sighting:
    detail: str
    api_path: str


@dataclass(frozen=True)
class Stage:
    key: str  # for --deadline, e.g. withdrawals-proven
    title: str
    track: str
    asset: str
    sources: tuple[RunSource, ...]  # where its runs come from; () = no Dagster run does it
    deadline_seconds: float  # after the previous stage of its track (or the stack being up)
    observe: Callable[[World], Sighting | None]
    no_run: str = ""  # what did it, when no Dagster run does
    # ("sensor" | "schedule", name) switched off once this stage is seen: nothing later needs them.
    retires: tuple[tuple[str, str], ...] = ()
