"""Decide and send the Minter's actions, each period at most once (docs/protocol.md §1, §8.5).

Per action (mint first, so that a first transfer finds tokens), each run:

1. An open `minter_actions` row (pending, failed or parked: a period already decided) is resumed:
   its period goes to the transaction sender again under the same idempotency key, and the
   sender's ledger says what happened (reconciling with the chain after a crash, returning a
   confirmed or parked row unchanged). Nothing new is decided while a period is open.
2. Otherwise the last action is looked up (intmax_core.minting.history) and the period is decided
   (intmax_core.minting.schedule). A due period is written to `minter_actions` first (unique per
   action and period), then sent with idempotency key = the period's date under purpose
   `minter_<action>`. Two concurrent runs, or a run after a crash, therefore name the same ledger
   row and at most one transaction is ever mined for a period.
3. A mined action is recorded with its L1 block and block time, from which the next period counts.

Reverts, per action: `mint()` reverting `NoTokensMinted` may succeed later (nothing to mint yet:
the row is `failed` and the next run retries); every other revert parks the row for an operator,
notably `InsufficientBalance` on the transfer (the Minter holds less than the amount: mint or fund
it first) and `AccessControlUnauthorizedAccount` (the wallet lacks TOKEN_MANAGER_ROLE).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eth_abi import decode, encode
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from intmax_core.chain.blocks import get_block_headers
from intmax_core.chain.errors import ErrorRegistry
from intmax_core.chain.outcomes import TxOutcome
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.sender import SendPolicy, TransactionSender
from intmax_core.chain.signers import Signer
from intmax_core.minting import history
from intmax_core.minting.history import IndexNotReady, LastAction
from intmax_core.minting.schedule import ACTIONS, TRANSFER_TO_LIQUIDITY_AMOUNT, Decision, MinterAction, as_utc, decide
from intmax_core.warehouse.ledger import TransactionStatus, transactions
from intmax_core.warehouse.minter_tables import MinterActionStatus, minter_actions

log = logging.getLogger(__name__)

MINT_SELECTOR = bytes.fromhex("1249c58b")  # mint()
TRANSFER_TO_LIQUIDITY_SELECTOR = bytes.fromhex("dec58c00")  # transferToLiquidity(uint256)
MINTER_ERRORS = ErrorRegistry.from_signatures(
    "AddressZero()",
    "InsufficientBalance()",
    "MintFailed()",
    "NoTokensMinted()",
    "TransferFailed()",
    "ZeroAmount()",
    "ZeroRecipient()",
    "AccessControlUnauthorizedAccount(address,bytes32)",
)
RETRYABLE_REVERTS = {MinterAction.MINT: frozenset({"NoTokensMinted"}), MinterAction.TRANSFER_TO_LIQUIDITY: frozenset()}
# What an operator should do about a parked revert (the ledger keeps the decoded error itself).
PARKED_ADVICE = {
    "InsufficientBalance": "the Minter holds less ITX than the transfer amount; mint or fund the Minter first",
    "AccessControlUnauthorizedAccount": "the token manager wallet (index 4) lacks the Minter's TOKEN_MANAGER_ROLE",
}
# The sender's outcome -> the row's status; any other (pending, sent, dropped: not concluded yet)
# leaves the row pending. `settled` cannot occur: no Minter revert means "already done".
OUTCOME_STATUS = {
    TransactionStatus.CONFIRMED: MinterActionStatus.DONE,
    TransactionStatus.PARKED: MinterActionStatus.PARKED,
    TransactionStatus.REVERTED: MinterActionStatus.PARKED,
    TransactionStatus.FAILED: MinterActionStatus.FAILED,
}


def calldata(action: MinterAction) -> bytes:
    if action is MinterAction.MINT:
        return MINT_SELECTOR
    return TRANSFER_TO_LIQUIDITY_SELECTOR + encode(["uint256"], [TRANSFER_TO_LIQUIDITY_AMOUNT])


@dataclass
class ActionReport:
    """What one run did about one action, for the asset's metadata and the overdue check."""

    action: MinterAction
    decision: Decision | None = None  # the decision that led to acting (None when a period was resumed)
    did: str = ""  # "not due", "sent", "resumed", "waiting": what happened, in words
    period_key: str | None = None
    status: MinterActionStatus | None = None  # the period's row after this run, if any
    tx_hash: str | None = None
    error: str | None = None
    after: Decision | None = None  # the decision as of the end of the run: due now = overdue
    last_action: LastAction | None = None
    reason: str | None = None  # why the period being sent or resumed was due (its row's reason)

    @property
    def overdue(self) -> bool:
        """Due and not done after this run (sent but unconfirmed, failed, parked), or unknowable."""
        return self.after is None or self.after.due

    def as_metadata(self) -> dict[str, Any]:
        after = self.after
        return {
            "did": self.did,
            "period_key": self.period_key,
            "status": None if self.status is None else self.status.value,
            "tx_hash": self.tx_hash,
            "error": self.error,
            "reason": self.reason or next((d.reason for d in (self.decision, after) if d is not None), None),
            "last_action_at": None if self.last_action is None else self.last_action.at.isoformat(),
            "last_action_source": None if self.last_action is None else self.last_action.source,
            "next_due_at": None if after is None or after.due_at is None else after.due_at.isoformat(),
            "overdue": self.overdue,
        }


@dataclass
class MinterRun:
    now: datetime
    reports: list[ActionReport] = field(default_factory=list)


class MinterExecutor:
    """Decides and sends `mint()` / `transferToLiquidity(amount)` for one Minter on one L1 chain."""

    def __init__(
        self,
        engine: Engine,
        client: RpcClient,
        sender: TransactionSender,
        *,
        minter: str,
        available_from: datetime | None,
        max_cursor_lag_blocks: int,
    ) -> None:
        self.engine = engine
        self.client = client
        self.sender = sender
        self.chain_id = sender.chain_id
        self.minter = minter.lower()
        self.available_from = None if available_from is None else as_utc(available_from)
        self.max_cursor_lag_blocks = max_cursor_lag_blocks

    def run(self, now: datetime) -> MinterRun:
        """One pass over both actions at the clock's `now` (UTC)."""
        result = MinterRun(as_utc(now))
        for action in ACTIONS:
            report = ActionReport(action)
            self._act(report, result.now)
            report.after = self._decision(report, result.now) if report.did != "waiting" else None
            result.reports.append(report)
        return result

    # ------------------------------------------------------------------------------- one action

    def _act(self, report: ActionReport, now: datetime) -> None:
        action = report.action
        with self.engine.connect() as connection:
            row = history.open_action(connection, action, self.chain_id, self.minter)
        if row is not None:
            report.did = "resumed"
            self._send(report, row)
            return
        decision = self._decision(report, now)
        report.decision = decision
        if decision is None:
            report.did = "waiting"
            return
        if not decision.due:
            report.did = "not due"
            return
        assert decision.period_key is not None and decision.due_at is not None
        report.did = "sent"
        self._send(report, self._record_decision(decision, now))

    def _decision(self, report: ActionReport, now: datetime) -> Decision | None:
        """The decision from the last action as known now; None (and report.error) when it cannot be known."""
        try:
            with self.engine.connect() as connection:
                cursor, head = history.indexed_up_to(connection, self.client, self.chain_id, self.max_cursor_lag_blocks)
                indexed = history.last_indexed(connection, report.action, self.chain_id, self.minter)
                recorded = history.last_recorded(connection, report.action, self.chain_id, self.minter)
            unindexed = history.unindexed_actions(self.client, self.minter, cursor + 1, head).get(report.action)
        except IndexNotReady as error:
            report.error = str(error)
            return None
        report.last_action = history.newest(indexed, recorded, unindexed)
        last_at = None if report.last_action is None else report.last_action.at
        return decide(report.action, last_at, now, self.available_from)

    def _record_decision(self, decision: Decision, now: datetime) -> RowMapping:
        """The period's row, written before sending (or the one a concurrent run wrote first)."""
        t = minter_actions.c
        values = {
            "action": decision.action.value,
            "period_key": decision.period_key,
            "chain_id": self.chain_id,
            "minter": self.minter,
            "signer": self.sender.signer.address,
            "due_at": decision.due_at,
            "decided_at": now,
            "previous_action_at": decision.last_action_at,
            "reason": decision.reason,
            "status": MinterActionStatus.PENDING.value,
            "amount": TRANSFER_TO_LIQUIDITY_AMOUNT if decision.action is MinterAction.TRANSFER_TO_LIQUIDITY else None,
        }
        with self.engine.begin() as connection:
            dialect = connection.dialect.name
            statement: Any
            if dialect == "postgresql":
                statement = postgresql.insert(minter_actions).values(values).on_conflict_do_nothing()
            elif dialect == "sqlite":
                statement = sqlite.insert(minter_actions).values(values).on_conflict_do_nothing()
            else:  # pragma: no cover - the warehouse is SQLite or PostgreSQL
                statement = insert(minter_actions).values(values)
            connection.execute(statement)
            return (
                connection.execute(
                    select(minter_actions).where(t.action == decision.action.value, t.period_key == decision.period_key)
                )
                .mappings()
                .one()
            )

    def _send(self, report: ActionReport, row: RowMapping) -> None:
        action = MinterAction(row["action"])
        report.period_key = row["period_key"]
        report.reason = row["reason"]
        outcome = self.sender.send(
            action.purpose,
            row["period_key"],
            self.minter,
            calldata(action),
            retryable_reverts=RETRYABLE_REVERTS[action],
        )
        changes = self._changes(action, outcome)
        with self.engine.begin() as connection:
            changes["transaction_id"] = connection.execute(
                select(transactions.c.id).where(
                    transactions.c.purpose == action.purpose, transactions.c.idempotency_key == row["period_key"]
                )
            ).scalar_one_or_none()
            connection.execute(
                update(minter_actions).where(minter_actions.c.id == row["id"]).values(**changes, updated_at=func.now())
            )
        report.status = MinterActionStatus(changes["status"])
        report.tx_hash = changes.get("tx_hash") or row["tx_hash"]
        report.error = changes.get("error")
        level = logging.ERROR if report.status is MinterActionStatus.PARKED else logging.INFO
        log.log(level, "minter %s %s: %s", action.value, row["period_key"], report.status.value)

    def _changes(self, action: MinterAction, outcome: TxOutcome) -> dict[str, Any]:
        """The row's new columns for the sender's outcome."""
        status = OUTCOME_STATUS.get(outcome.status, MinterActionStatus.PENDING)
        changes: dict[str, Any] = {"status": status.value, "tx_hash": outcome.tx_hash, "error": None}
        if status is MinterActionStatus.DONE:
            mined = self._mined(action, outcome)
            if mined is None:  # unknown is not "done": the next run resumes and reads it again
                return {**changes, "status": MinterActionStatus.PENDING.value, "error": "receipt not readable yet"}
            return {**changes, **mined}
        if status is MinterActionStatus.PARKED:
            name = outcome.error_name or ""
            advice = PARKED_ADVICE.get(name, "see `intmax tx list --status parked`")
            changes["error"] = (
                f"{outcome.parked_reason or outcome.last_error}: {advice}; then "
                f"`intmax tx requeue {action.purpose} {outcome.idempotency_key}`"
            )
        elif status is not MinterActionStatus.DONE:
            changes["error"] = outcome.last_error
        return changes

    def _mined(self, action: MinterAction, outcome: TxOutcome) -> dict[str, Any] | None:
        """Block, block time and amount of the mined action, from its receipt; None if unreadable."""
        if outcome.tx_hash is None:
            return None
        receipt = self.client.call("eth_getTransactionReceipt", [outcome.tx_hash])
        if receipt is None or int(receipt["status"], 16) != 1:
            return None
        number = int(receipt["blockNumber"], 16)
        header = get_block_headers(self.client, [number])[number]
        topic0 = history.EVENT_OF[action].topic0
        amounts = [
            decode(["uint256"], bytes.fromhex(entry["data"][2:]))[0]
            for entry in receipt.get("logs") or []
            if entry["address"].lower() == self.minter and entry["topics"] and entry["topics"][0].lower() == topic0
        ]
        return {
            "tx_hash": receipt["transactionHash"].lower(),
            "block_number": number,
            "block_time": datetime.fromtimestamp(header.timestamp, UTC),
            "amount": sum(amounts) if amounts else None,
        }


def token_manager_sender(
    client: RpcClient, engine: Engine, signer: Signer, chain_id: int, *, max_fee_per_gas: int | None
) -> TransactionSender:
    """The L1 sender of the token manager wallet: EIP-1559 fees, the originals' 0.3 step and 5 attempts.

    The original gave transferToLiquidity a single attempt, so as never to transfer twice; here a
    retry replaces the transaction on the same nonce, so at most one of its attempts can be mined.
    """
    policy = SendPolicy(fee_mode="eip1559", max_fee_per_gas=max_fee_per_gas)
    return TransactionSender(client, engine, signer, chain_id, policy=policy, errors=MINTER_ERRORS)
