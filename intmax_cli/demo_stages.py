"""The stages of the demo's life cycle and how each one is observed.

Every stage is read from where the pipeline puts it, never assumed: the warehouse tables (what
the assets and jobs wrote), the chains (the L1 receipt of a relay or a claim), the prover
stand-in's request log, and the API routes that serve the result. Stages form four tracks that
advance side by side; within a track each stage waits for the previous one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from web3.logs import DISCARD

from intmax_cli.demo_claim import claim_withdrawal
from intmax_cli.demo_runs import RunSource
from intmax_cli.demo_world import (
    API_TIMEOUT_SECONDS,
    PROVED_GROUP_STATUSES,
    TOKEN_SYMBOLS,
    Sighting,
    Stage,
    World,
    short,
)
from intmax_core.deposits.relayer import PURPOSE as DEPOSIT_RELAY_PURPOSE
from intmax_core.warehouse.aggregator_tables import withdrawal_groups
from intmax_core.warehouse.builders_tables import block_builders
from intmax_core.warehouse.deposits_tables import deposits
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.tokens_tables import token_prices
from intmax_core.withdrawals.messenger_relayer import PURPOSE as MESSAGE_RELAY_PURPOSE
from intmax_devnet import accounts
from intmax_devnet.deploy_l2 import DEFAULT_DIRECT_WITHDRAWAL_TOKEN_INDICES


def _groups_note(world: World) -> None:
    """Why withdrawals are not proven yet: a released group carries the prover's or chain's error."""
    with world.engine.connect() as connection:
        released = connection.execute(
            select(withdrawal_groups.c.group_id, withdrawal_groups.c.error)
            .where(withdrawal_groups.c.status == "released")
            .order_by(withdrawal_groups.c.updated_at.desc())
            .limit(1)
        ).first()
    if released:
        world.notes["withdrawals"] = f"group {short(released.group_id)} was released: {released.error}"


# --- deposits ------------------------------------------------------------------------------------
def deposits_made(world: World) -> Sighting | None:
    ids = world.report.deposit_ids
    deposited = EVENT_TABLES["Deposited"]
    with world.engine.connect() as connection:
        indexed = connection.execute(
            select(func.count()).select_from(deposited).where(deposited.c.deposit_id.in_(ids))
        ).scalar_one()
    if indexed < len(ids):
        return None
    tokens = ", ".join(f"{n} {t.upper()}" for t, n in sorted(world.report.deposits_by_token.items()))
    return Sighting(
        f"{len(ids)} deposits (ids {ids[0]}..{ids[-1]}: {tokens}) by {world.report.plan.users} users on L1 "
        "Liquidity, indexed into evt_deposited",
        f"/deposits/{ids[0]}",
    )


def deposits_relayed(world: World) -> Sighting | None:
    """The deposit relayer's relayDeposits, read from its ledger rows and their L1 receipts."""
    last_id = world.report.deposit_ids[-1]
    liquidity = world.liquidity
    for tx_hash, receipt in world.sent_receipts(DEPOSIT_RELAY_PURPOSE):
        for event in liquidity.events.DepositsRelayed().process_receipt(receipt, errors=DISCARD):
            if event["args"]["upToDepositId"] >= last_id:
                return Sighting(
                    f"relayDeposits up to id {event['args']['upToDepositId']} sent by the pipeline "
                    f"(L1 tx {short(tx_hash)}, DepositsRelayed in its receipt)",
                    f"/deposits/{last_id}",
                )
    return None


def deposits_processed(world: World) -> Sighting | None:
    ids = world.report.deposit_ids
    with world.engine.connect() as connection:
        statuses = Counter(
            str(s)
            for s in connection.execute(select(deposits.c.status).where(deposits.c.deposit_id.in_(ids))).scalars()
        )
    if statuses["processed"] < len(ids):
        world.notes["deposits"] = f"deposits by status: {dict(statuses) or 'none refreshed yet'}"
        return None
    answer = world.get(f"/deposits/{ids[-1]}")
    if answer["status"] != "processed":
        return None
    processed = answer["processed"]
    return Sighting(
        f"{len(ids)} deposits processed on L2 (DepositLeafInserted, L2 tx {short(processed['txHash'])}, "
        f"leaf {processed['leafIndex']} for id {ids[-1]}); the API says processed",
        f"/deposits/{ids[-1]}",
    )


# --- withdrawals ---------------------------------------------------------------------------------
def claimable_by_design(contract_withdrawal: dict[str, Any]) -> bool:
    """Liquidity pays only some tokens directly; the others become claimable."""
    return int(contract_withdrawal["tokenIndex"]) not in DEFAULT_DIRECT_WITHDRAWAL_TOKEN_INDICES


def withdrawals_requested(world: World) -> Sighting | None:
    rows = world.withdrawal_rows()
    if len(rows) < len(world.report.withdrawal_hashes):
        return None
    tokens = Counter(TOKEN_SYMBOLS.get(int(r["contract_withdrawal"]["tokenIndex"]), "?") for r in rows.values())
    claimable = sum(claimable_by_design(r["contract_withdrawal"]) for r in rows.values())
    listed = ", ".join(f"{n} {t}" for t, n in sorted(tokens.items()))
    return Sighting(
        f"{len(rows)} withdrawal requests ({listed}; {claimable} in a token Liquidity does not pay directly) "
        "in `withdrawals`, status requested",
        f"/withdrawals/{world.report.withdrawal_hashes[0]}",
    )


def withdrawals_grouped(world: World) -> Sighting | None:
    groups = world.live_groups()
    if sum(g["ours"] for g in groups) < len(world.report.withdrawal_hashes):
        return None
    names = ", ".join(f"{short(g['group_id'])} ({g['member_count']} members)" for g in groups)
    return Sighting(f"collected into group {names}", f"/withdrawals/{world.report.withdrawal_hashes[0]}")


def withdrawals_proven(world: World) -> Sighting | None:
    groups = world.live_groups()
    proven = [g for g in groups if g["status"] in PROVED_GROUP_STATUSES]
    if not groups or sum(g["ours"] for g in proven) < len(world.report.withdrawal_hashes):
        _groups_note(world)
        return None
    prover = world.manifest.prover_gateway
    counts = ""
    if prover is not None:
        logged = [
            httpx.get(
                f"{prover.url}/__requests", params={"stage": stage, "method": "POST"}, timeout=API_TIMEOUT_SECONDS
            )
            .raise_for_status()
            .json()["requests"]
            for stage in ("chain", "wrapper", "gnark")
        ]
        counts = f" ({len(logged[0])} chain, {len(logged[1])} wrapper, {len(logged[2])} gnark proof jobs)"
    return Sighting(
        f"group {', '.join(short(g['group_id']) for g in proven)} proven by the prover stand-in{counts}",
        f"/withdrawals/{world.report.withdrawal_hashes[0]}",
    )


def withdrawals_submitted(world: World) -> Sighting | None:
    groups = world.live_groups()
    submitted = [g for g in groups if g["status"] == "submitted" and g["l2_tx_hash"]]
    if sum(g["ours"] for g in submitted) < len(world.report.withdrawal_hashes):
        return None
    txs = ", ".join(f"{short(g['l2_tx_hash'])} (block {g['l2_block_number']})" for g in submitted)
    return Sighting(f"submitWithdrawalProof mined on L2: tx {txs}", f"/withdrawals/{world.report.withdrawal_hashes[0]}")


def withdrawals_relayed_on_l1(world: World) -> Sighting | None:
    """The messenger relayer's relayMessageWithProof, read from its ledger rows and their L1 receipts."""
    liquidity = world.liquidity
    paid: set[str] = set()
    claimable: set[str] = set()
    tx_hashes = []
    for tx_hash, receipt in world.sent_receipts(MESSAGE_RELAY_PURPOSE):
        tx_hashes.append(tx_hash)
        for event, found in (("DirectWithdrawalSuccessed", paid), ("WithdrawalClaimable", claimable)):
            for log in getattr(liquidity.events, event)().process_receipt(receipt, errors=DISCARD):
                found.add("0x" + bytes(log["args"]["withdrawalHash"]).hex())
    ours = set(world.report.withdrawal_hashes)
    if not ours <= paid | claimable:
        return None
    return Sighting(
        f"relayMessageWithProof on L1 (tx {', '.join(short(t) for t in tx_hashes)}): Liquidity paid "
        f"{len(ours & paid)} directly and made {len(ours & claimable - paid)} claimable",
        f"/withdrawals/{world.report.withdrawal_hashes[0]}",
    )


def withdrawals_paid_or_claimable(world: World) -> Sighting | None:
    rows = world.withdrawal_rows()
    statuses = Counter(row["status"] for row in rows.values())
    if statuses["success"] + statuses["need_claim"] < len(world.report.withdrawal_hashes):
        world.notes["withdrawals"] = f"withdrawals by status: {dict(statuses)}"
        return None
    need_claim = sorted(h for h, row in rows.items() if row["status"] == "need_claim")
    example = need_claim[0] if need_claim else world.report.withdrawal_hashes[0]
    if world.get(f"/withdrawals/{example}")["status"] not in ("success", "need_claim"):
        return None
    return Sighting(
        f"{statuses['success']} paid (success), {statuses['need_claim']} claimable (need_claim)",
        f"/withdrawals/{example}",
    )


def withdrawal_claimed(world: World) -> Sighting | None:
    """Claim one need_claim withdrawal as its recipient (once), then wait for the watcher to see it."""
    if world.claim is None:
        rows = world.withdrawal_rows()
        need_claim = sorted(h for h, row in rows.items() if row["status"] == "need_claim")
        if not need_claim:
            world.notes["withdrawals"] = "no withdrawal is need_claim: nothing to claim"
            return None
        hash_ = need_claim[0]
        world.claim = claim_withdrawal(
            world.manifest, world.report.plan.users, hash_, rows[hash_]["contract_withdrawal"]
        )
    claim = world.claim
    row = world.withdrawal_rows()[claim.withdrawal_hash]
    if row["status"] != "success" or row["l1_tx_hash"] != claim.tx_hash:
        world.notes["withdrawals"] = f"claimed withdrawal {short(claim.withdrawal_hash)} is {row['status']}"
        return None
    answer = world.get(f"/withdrawals/{claim.withdrawal_hash}")
    if answer["status"] != "success" or answer["l1TxHash"] != claim.tx_hash:
        return None
    symbol = TOKEN_SYMBOLS.get(claim.token_index, f"token {claim.token_index}")
    return Sighting(
        f"recipient {short(claim.recipient)} claimed {claim.amount} base units of {symbol} "
        f"(Liquidity.claimWithdrawals, L1 tx {short(claim.tx_hash)}); balance +{claim.received}; "
        "ClaimedWithdrawal indexed, status success",
        f"/withdrawals/{claim.withdrawal_hash}",
    )


# --- builders and prices -------------------------------------------------------------------------
def _builder_rows(world: World) -> list[dict[str, Any]]:
    addresses = [accounts.builder(i).address for i in range(world.report.plan.builders)]
    with world.engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(block_builders).where(block_builders.c.address.in_(addresses))
            ).mappings()
        ]


def builders_heartbeating(world: World) -> Sighting | None:
    rows = _builder_rows(world)
    if len(rows) < world.report.plan.builders:
        return None
    return Sighting(
        f"{len(rows)} builders' heartbeats (BlockBuilderRegistry) folded into block_builders, "
        f"e.g. {short(rows[0]['address'])} at {rows[0]['url']}",
        f"/indexer/builders/registration/{rows[0]['address']}",
    )


def builders_judged(world: World) -> Sighting | None:
    rows = _builder_rows(world)
    if len(rows) < world.report.plan.builders or any(row["active"] is None for row in rows):
        return None
    active = {row["address"] for row in rows if row["active"]}
    reasons = "; ".join(f"{short(r['address'])}: {r['inactive_reason']}" for r in rows if not r["active"])
    # Asked only now: the route caches its pick for 120 s, an empty one included.
    handed_out = {builder["address"].lower() for builder in world.get("/indexer/builders")}
    if active and not handed_out & active:
        return None
    return Sighting(
        f"{len(active)} active, {len(rows) - len(active)} inactive{f' ({reasons})' if reasons else ''}; "
        f"/v1/indexer/builders hands out {len(handed_out)}",
        "/indexer/builders",
    )


def prices_synced(world: World) -> Sighting | None:
    with world.engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(token_prices)).scalar_one()
        eth = connection.execute(
            select(token_prices.c.price_usd).where(token_prices.c.coingecko_id == "ethereum")
        ).scalar()
    if not count:
        return None
    # Asked only now: the route caches an answer for 30 s.
    total = world.get("/token-prices/list?perPage=1")["total"]
    if not total:
        return None
    eth_price = f", ETH ${eth:,.2f}" if eth is not None else ""
    return Sighting(
        f"{count} token prices synced from the CoinGecko stand-in{eth_price}; the API lists {total}",
        "/token-prices/list",
    )


def _sensor(name: str) -> RunSource:
    return RunSource(sensor=name)


# What only the deposit and builder tracks and the L2->L1 relay need; the indexing sensors and the
# withdrawal watcher serve the withdrawal track to its end, so they stay.
RETIRED_AFTER: dict[str, tuple[tuple[str, str], ...]] = {
    "deposits-processed": (
        ("sensor", "deposit_relay_sensor"),
        ("sensor", "mock_l1_to_l2_relay_sensor"),
        ("sensor", "deposits_refresh_sensor"),
    ),
    "withdrawals-relayed": (("schedule", "relay_withdrawal_messages_schedule"),),
    "builders-judged": (("schedule", "block_builder_health_schedule"),),
}


def build_stages(deadlines: dict[str, float]) -> list[Stage]:
    """Every stage in track order; `deadlines` (seconds, by stage key) come from the command line."""
    groups = RunSource(job="process_withdrawal_group", sensor="withdrawal_group_sensor")
    watcher = _sensor("withdrawals_watcher_sensor")
    health = RunSource(job="block_builder_health_job", schedule="block_builder_health_schedule")
    specs: list[tuple[str, str, str, str, tuple[RunSource, ...], Callable[[World], Sighting | None], str]] = [
        ("deposits-made", "deposits made", "deposits", "l1_liquidity_events",
         (_sensor("l1_indexing_sensor"),), deposits_made, ""),
        ("deposits-relayed", "deposits relayed", "deposits", "transaction_ledger",
         (RunSource(job="relay_deposits", sensor="deposit_relay_sensor"),), deposits_relayed, ""),
        ("deposits-processed", "deposits processed on L2", "deposits", "deposits",
         (_sensor("deposits_refresh_sensor"),), deposits_processed, ""),
        ("withdrawals-requested", "withdrawals requested", "withdrawals", "withdrawals", (), withdrawals_requested,
         "written by the simulator, as the withdrawal-server writes requests"),
        ("withdrawals-grouped", "withdrawals grouped", "withdrawals", "withdrawal_groups",
         (_sensor("withdrawal_collector_sensor"),), withdrawals_grouped, ""),
        ("withdrawals-proven", "withdrawals proven", "withdrawals", "withdrawal_groups", (groups,),
         withdrawals_proven, ""),
        ("withdrawals-submitted", "withdrawals submitted on L2", "withdrawals", "withdrawal_groups", (groups,),
         withdrawals_submitted, ""),
        ("withdrawals-relayed", "withdrawals relayed on L1", "withdrawals", "transaction_ledger",
         (RunSource(job="relay_withdrawal_messages"),), withdrawals_relayed_on_l1, ""),
        ("withdrawals-paid", "withdrawals paid or claimable", "withdrawals", "withdrawals", (watcher,),
         withdrawals_paid_or_claimable, ""),
        ("withdrawal-claimed", "withdrawal claimed", "withdrawals", "withdrawals", (watcher,),
         withdrawal_claimed, ""),
        ("builders-heartbeating", "builders heartbeating", "builders", "block_builders", (health,),
         builders_heartbeating, ""),
        ("builders-judged", "builders judged", "builders", "block_builder_health", (health,), builders_judged, ""),
        ("prices-synced", "prices synced", "prices", "token_prices",
         (_sensor("token_prices_first_sync_sensor"), RunSource(schedule="token_prices_schedule")),
         prices_synced, ""),
    ]  # fmt: skip
    return [
        Stage(key, title, track, asset, sources, deadlines[key], observe, no_run, RETIRED_AFTER.get(key, ()))
        for key, title, track, asset, sources, observe, no_run in specs
    ]
