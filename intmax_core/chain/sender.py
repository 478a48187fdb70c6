"""The transaction sender: every write to a chain goes through `TransactionSender.send`.

For one logical action, identified by (purpose, idempotency_key), and under a lock on (chain id,
signer) that holds across processes:

1. The action's ledger row is read or written and committed (`pending`). A row `confirmed`,
   `settled`, `parked` (or a pre-0005 `reverted`) is returned as it is: nothing is sent twice,
   and a parked action waits for an operator.
2. A row with attempts at its nonce (left `sent` or `failed` by an earlier call, or a crash) is
   reconciled with the chain first (intmax_core.chain.reconciler): mined -> its result is
   recorded and nothing is sent; nonce still free -> the action resumes on that nonce with a
   bumped fee (a replacement: at most one of its transactions can ever be mined); nonce
   positively taken by another transaction -> the row is `dropped` and starts over with a new
   nonce; anything unknown (receipts unreadable, a lagging node) -> the row is left as it is and
   returned, and the next `send` of the key reconciles again.
3. Gas is estimated (unless fixed). A revert is classified per purpose
   (intmax_core.chain.send_policy): already done -> `settled`; may succeed later -> `failed` (retryable); anything
   else -> `parked`, with an ERROR log line. Nothing is broadcast.
4. A new nonce is the chain's `latest` count, raised past other rows of the signer whose
   transactions a node still has, whatever their status (a `failed` row's last attempt may sit
   in a mempool).
5. Each attempt is signed, recorded in `transaction_attempts` and committed; the signer lock is
   re-asserted (intmax_core.chain.signer_lock: a PostgreSQL session lock can vanish with its
   connection); only then is it broadcast (intmax_core.chain.broadcast).
6. The receipt is awaited. On timeout the chain is asked again (step 2) and the transaction is
   replaced on the same nonce with a higher fee. A receipt counts at the policy's confirmation
   depth and only while its block is canonical; a status-0 receipt is replayed against the
   state before the transaction (intmax_core.chain.revert_replay) and classified as in 3. An
   optional receipt check (`receipt_check`) parks a successful transaction whose effect failed
   (the L1 messenger's FailedRelayedMessage).

This module decides; intmax_core.chain.outcomes writes each result (status, error, log line) and
intmax_core.warehouse.ledger_repository holds all the SQL. Keys never leave
intmax_core.chain.signers: only addresses, hashes and node messages reach the ledger, exceptions
and logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import RowMapping

from intmax_core.chain.broadcast import (
    BroadcastRejection,
    FeeOracle,
    PreviousFees,
    broadcast,
    build_transaction,
    classify_broadcast_error,
)
from intmax_core.chain.errors import EXECUTION_REVERTED_CODE, ErrorRegistry, revert_data
from intmax_core.chain.outcomes import OutcomeRecorder, RowRef, TxOutcome, mined_columns
from intmax_core.chain.reconciler import Confirmation, Mined, NonceFree, NonceTaken, Observation, Reconciler, Unknown
from intmax_core.chain.revert_replay import replay_revert
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.rpc_errors import RpcError
from intmax_core.chain.send_policy import MESSAGE_ALREADY_EXECUTED, SendPolicy, revert_names
from intmax_core.chain.signer_lock import SignerLock, SignerLockLost, signer_lock
from intmax_core.chain.signers import Signer
from intmax_core.warehouse.ledger import TransactionStatus
from intmax_core.warehouse.ledger_repository import LedgerRepository, NewAction

__all__ = [
    "MESSAGE_ALREADY_EXECUTED",
    "BroadcastRejection",
    "IdempotencyConflict",
    "ReceiptCheck",
    "SendPolicy",
    "SenderError",
    "SignerLockLost",
    "TransactionSender",
    "TxOutcome",
    "classify_broadcast_error",
]

logger = logging.getLogger(__name__)

# Rows `send` returns unchanged: done, or waiting for an operator.
RETURNED_AS_IS = frozenset(
    {TransactionStatus.CONFIRMED, TransactionStatus.SETTLED, TransactionStatus.REVERTED, TransactionStatus.PARKED}
)
# Given a successful receipt, what went wrong (an error name for the ledger), or None if nothing did.
ReceiptCheck = Callable[[Mapping[str, Any]], str | None]


class SenderError(RuntimeError):
    pass


class IdempotencyConflict(SenderError):
    """The idempotency key is already used by a different transaction."""


@dataclass(kw_only=True)
class _Action(RowRef):
    to: str
    data: bytes
    value: int
    gas_limit: int | None
    receipt_check: ReceiptCheck | None


class TransactionSender:
    """Sends transactions of one signer on one chain, recording each in the ledger first."""

    def __init__(
        self,
        client: RpcClient,
        engine: Engine,
        signer: Signer,
        chain_id: int,
        *,
        policy: SendPolicy | None = None,
        errors: ErrorRegistry | None = None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.signer = signer
        self.chain_id = chain_id
        self.policy = policy or SendPolicy()
        self.errors = errors or ErrorRegistry()
        self.ledger = LedgerRepository(engine)
        self.reconciler = Reconciler(client, signer.address, self.policy.confirmations)
        self.fee_oracle = FeeOracle(client, self.policy)
        self.results = OutcomeRecorder(self.ledger)

    def __repr__(self) -> str:
        return f"TransactionSender(chain_id={self.chain_id}, signer={self.signer.address})"

    # ----------------------------------------------------------------------------------- public

    def send(
        self,
        purpose: str,
        idempotency_key: str,
        to: str,
        data: bytes | str,
        value: int = 0,
        gas_limit: int | None = None,
        *,
        success_reverts: Iterable[str] | None = None,
        retryable_reverts: Iterable[str] | None = None,
        receipt_check: ReceiptCheck | None = None,
    ) -> TxOutcome:
        """Perform the action once: send it, or return what an earlier call already recorded.

        `success_reverts` / `retryable_reverts` override the policy's "already done" and "may
        succeed later" reverts for this purpose; any other revert parks the row.

        Returns the outcome for every result the chain gave: confirmed, settled, parked, failed
        (retryable: after max attempts, a node rejection, a retryable revert), or the row with its
        status unchanged (usually `sent`) and `last_error` saying why, when the chain's answer
        cannot be read yet. Raises IdempotencyConflict, SignerBusy, SignerLockLost (nothing
        broadcast), or RpcUnavailable / RpcError when the node cannot be asked at a step that cannot
        be skipped (the ledger is left consistent; calling again resumes).
        """
        calldata = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else data
        done = self.policy.success_reverts if success_reverts is None else success_reverts
        retryable = self.policy.retryable_reverts if retryable_reverts is None else retryable_reverts
        new = NewAction(purpose, idempotency_key, self.chain_id, self.signer.address, to.lower(), calldata, value)
        with signer_lock(self.engine, self.chain_id, self.signer.address, self.policy.lock_timeout_seconds) as lock:
            row, differing = self.ledger.get_or_create(new)
            if differing:
                raise IdempotencyConflict(
                    f"{purpose}/{idempotency_key} is already recorded (ledger row {row['id']}) "
                    f"with a different {', '.join(differing)}"
                )
            action = _Action(
                row_id=row["id"],
                purpose=purpose,
                idempotency_key=idempotency_key,
                to=new.to,
                data=calldata,
                value=value,
                gas_limit=gas_limit,
                already_done=revert_names(done),
                retryable=revert_names(retryable),
                receipt_check=receipt_check,
                log={"purpose": purpose, "idempotency_key": idempotency_key, "chain_id": self.chain_id},
            )
            if TransactionStatus(row["status"]) in RETURNED_AS_IS:
                logger.info("transaction already %s; not sending again", row["status"], extra=action.log)
                return TxOutcome.from_row(row)
            return self._drive(action, row, lock)

    def resume_unfinished(self, purpose: str, **options: Any) -> list[TxOutcome]:
        """Send again, with their recorded target, calldata and value, this signer's rows of `purpose` that
        an earlier call left without a result (a crash, a kill, a receipt never seen): each is reconciled
        with the chain, so a broadcast made before the crash is found, never repeated. Call this before
        deciding new work, which may no longer list an action whose transaction is already mined."""
        return [
            self.send(
                purpose, row["idempotency_key"], row["to_address"], bytes(row["calldata"]), int(row["value"]), **options
            )
            for row in self.ledger.unfinished(purpose, self.chain_id, self.signer.address)
        ]

    def record_already_done(
        self, purpose: str, idempotency_key: str, to: str, data: bytes, reason: str, value: int = 0
    ) -> TxOutcome:
        """Record the action as `settled` without sending anything: the caller knows the chain already
        reflects it by other means (e.g. the same message delivered under another key). A row that
        already has a result, or attempts that may be mined, is left to `send` and returned as is."""
        new = NewAction(purpose, idempotency_key, self.chain_id, self.signer.address, to.lower(), data, value)
        with signer_lock(self.engine, self.chain_id, self.signer.address, self.policy.lock_timeout_seconds):
            row, differing = self.ledger.get_or_create(new)
            if differing:
                raise IdempotencyConflict(
                    f"{purpose}/{idempotency_key} is already recorded with a different {differing}"
                )
            # A row with a nonce may have an attempt still to be mined: only `send` may conclude it.
            if TransactionStatus(row["status"]) not in RETURNED_AS_IS and row["nonce"] is None:
                row = self.ledger.update(row["id"], status=TransactionStatus.SETTLED, last_error=reason)
                logger.info(
                    "recorded as already done: %s",
                    reason,
                    extra={"purpose": purpose, "idempotency_key": idempotency_key},
                )
        return TxOutcome.from_row(row)

    # ------------------------------------------------------------------------------ the flow

    def _drive(self, action: _Action, row: RowMapping, lock: SignerLock) -> TxOutcome:
        nonce: int | None = row["nonce"]
        if nonce is not None:  # attempts at it may be mined: reconcile before anything else
            observation = self._observe(action.row_id, nonce)
            if isinstance(observation, Mined):
                logger.info("reconciled: an earlier attempt was mined", extra={**action.log, "nonce": nonce})
                return self._conclude(action, nonce)
            if isinstance(observation, Unknown):
                return self.results.unknown(action, observation.reason)
            if isinstance(observation, NonceFree):
                logger.info("resuming with the same nonce and a bumped fee", extra={**action.log, "nonce": nonce})
                if action.gas_limit is None:
                    action.gas_limit = self.ledger.attempts_at(action.row_id, nonce)[0]["gas_limit"]
                return self._attempt_loop(action, nonce, lock)
            self.results.drop(action, nonce, observation)
        if action.gas_limit is None:
            estimated = self._estimate_gas(action)
            if isinstance(estimated, TxOutcome):
                return estimated
            action.gas_limit = estimated
        return self._attempt_loop(action, self._next_nonce(action.row_id), lock)

    def _attempt_loop(self, action: _Action, nonce: int, lock: SignerLock) -> TxOutcome:
        assert action.gas_limit is not None
        for _ in range(self.policy.max_attempts):
            attempt_id, raw, log = self._sign_and_record(action, nonce)
            try:
                lock.assert_held()
            except SignerLockLost as lost:
                self.ledger.note_broadcast_error(attempt_id, f"not broadcast: {lost}")
                logger.error("signer lock lost; not broadcasting", extra=log)
                raise
            logger.info("broadcasting transaction", extra=log)
            result = broadcast(self.client, raw)
            if result.message is not None:
                self.ledger.note_broadcast_error(attempt_id, result.message)
            if result.rejection is not None:
                logger.warning("broadcast rejected: %s", result.rejection.value, extra={**log, "error": result.message})
            if result.rejection is BroadcastRejection.UNDERPRICED:
                continue
            if result.rejection is BroadcastRejection.REVERTED:
                assert result.error is not None
                decoded = self.errors.decode(revert_data(result.error.data) or b"")
                return self.results.revert(action, decoded, where="at broadcast")
            if result.rejection is BroadcastRejection.OTHER:
                return self.results.fail(action, f"eth_sendRawTransaction rejected: {result.message}")
            if result.rejection is None and self._receipt_within(action.row_id, nonce):
                return self._conclude(action, nonce)
            # No receipt in time, or "nonce too low": ask the chain what happened at the nonce.
            observation = self._observe(action.row_id, nonce)
            if isinstance(observation, Mined):
                return self._conclude(action, nonce)
            if isinstance(observation, Unknown):
                return self.results.unknown(action, observation.reason)
            if isinstance(observation, NonceTaken):
                self.results.drop(action, nonce, observation)
                nonce = self._next_nonce(action.row_id)
                continue
            logger.warning("nonce still free, no receipt; replacing on the same nonce", extra=log)
        return self.results.fail(action, f"max attempts ({self.policy.max_attempts}) reached without a receipt")

    def _sign_and_record(self, action: _Action, nonce: int) -> tuple[int, bytes, dict[str, Any]]:
        """Sign the next attempt at `nonce` and commit it to the ledger; (attempt id, raw transaction, log fields)."""
        assert action.gas_limit is not None
        earlier = self.ledger.attempts_at(action.row_id, nonce)
        previous = (
            PreviousFees(earlier[0]["gas_price"], earlier[0]["max_fee_per_gas"], earlier[0]["max_priority_fee_per_gas"])
            if earlier
            else None
        )
        attempt_fees = self.fee_oracle.fees(len(earlier), previous)
        transaction = build_transaction(
            chain_id=self.chain_id,
            nonce=nonce,
            to=action.to,
            value=action.value,
            data=action.data,
            gas_limit=action.gas_limit,
            attempt_fees=attempt_fees,
        )
        raw, tx_hash = self.signer.sign_transaction(transaction)
        attempt_id = self.ledger.record_attempt(
            action.row_id,
            nonce=nonce,
            tx_hash=tx_hash,
            raw=raw,
            gas_limit=action.gas_limit,
            fee_columns=attempt_fees.columns(),
            broadcast_block=attempt_fees.head_block,
        )
        return attempt_id, raw, {**action.log, "nonce": nonce, "tx_hash": tx_hash, "attempt": len(earlier)}

    # ------------------------------------------------------------------------------ chain reads

    def _observe(self, row_id: int, nonce: int) -> Observation:
        attempts = self.ledger.attempts_at(row_id, nonce)
        starts = [a["broadcast_block"] for a in attempts if a["broadcast_block"] is not None]
        return self.reconciler.observe(nonce, [a["tx_hash"] for a in attempts], min(starts, default=None))

    def _hashes_at(self, row_id: int, nonce: int) -> list[str]:
        return [attempt["tx_hash"] for attempt in self.ledger.attempts_at(row_id, nonce)]

    def _receipt_within(self, row_id: int, nonce: int) -> bool:
        """Whether a receipt of any attempt at `nonce` shows up within the receipt timeout."""
        deadline = time.monotonic() + self.policy.receipt_timeout_seconds
        while self.reconciler.find_receipt(self._hashes_at(row_id, nonce)) is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.policy.poll_interval_seconds)
        return True

    def _estimate_gas(self, action: _Action) -> int | TxOutcome:
        try:
            return int(self.client.call("eth_estimateGas", [self._call_object(action)]), 16)
        except RpcError as error:
            data = revert_data(error.data)
            if data is None and error.code != EXECUTION_REVERTED_CODE:
                raise
            logger.info("reverts at gas estimation; not broadcast", extra=action.log)
            return self.results.revert(action, self.errors.decode(data or b""), where="at gas estimation")

    def _next_nonce(self, row_id: int) -> int:
        """The chain's `latest` count, past other rows of this signer whose transactions a node still has.

        Called under the signer lock, so any other row with a nonce at or past the count was left
        by a crashed process, a call that raised, or a `failed`/`parked` row whose last attempt
        may still be pending. Its nonce stays reserved while a node knows one of its transactions
        (a transaction no node has cannot be mined without being broadcast again, and the row's
        own next `send` reconciles it). Only a contiguous run is skipped: a gap is filled.
        """
        nonce = self.reconciler.chain_nonce()
        for other in self.ledger.rows_holding_nonces(self.chain_id, self.signer.address, nonce, row_id):
            if other["nonce"] > nonce:
                break
            if other["nonce"] == nonce and self.reconciler.known_to_node(self._hashes_at(other["id"], nonce)):
                nonce += 1
        return nonce

    def _call_object(self, action: _Action) -> dict[str, str]:
        return {
            "from": self.signer.address,
            "to": action.to,
            "data": "0x" + action.data.hex(),
            "value": hex(action.value),
        }

    # ------------------------------------------------------------------------------ results

    def _conclude(self, action: _Action, nonce: int) -> TxOutcome:
        """An attempt at `nonce` was mined: wait for its confirmation depth, then record the result.

        The receipt is fetched again on every poll and its block checked against the canonical
        chain, so a reorg that removes it is noticed. If the depth is not reached within the
        receipt timeout (or the receipt disappears), the row stays `sent`; the next `send` of the
        key reconciles it.
        """
        deadline = time.monotonic() + self.policy.receipt_timeout_seconds
        while True:
            receipt = self.reconciler.find_receipt(self._hashes_at(action.row_id, nonce))
            state = None
            if receipt is not None:
                state, _depth = self.reconciler.confirmation(receipt)
                if state is Confirmation.DEEP:
                    return self._settle_mined(action, receipt)
            if time.monotonic() >= deadline:
                break
            time.sleep(self.policy.poll_interval_seconds)
        if receipt is not None and state is Confirmation.SHALLOW:
            seen = mined_columns(receipt)
            del seen["gas_used"]  # recorded once the receipt counts
            message = f"mined in block {seen['block_number']} but not yet {self.policy.confirmations} blocks deep"
            return self.results.in_flight(action, message, **seen)
        if receipt is not None and state is Confirmation.GONE:
            message = f"block {int(receipt['blockNumber'], 16)} of the receipt is no longer canonical (a reorg)"
        else:
            message = "receipt disappeared (a reorg?) or could not be read"
        return self.results.in_flight(action, message, block_number=None, block_hash=None)

    def _settle_mined(self, action: _Action, receipt: Mapping[str, Any]) -> TxOutcome:
        mined = mined_columns(receipt)
        block = mined["block_number"]
        if int(receipt["status"], 16) == 1:
            problem = action.receipt_check(receipt) if action.receipt_check is not None else None
            if problem is not None:
                return self.results.park(action, f"mined in block {block}, but {problem}", error_name=problem, **mined)
            return self.results.confirmed(action, mined)
        call = {**self._call_object(action), "gas": hex(action.gas_limit or mined["gas_used"])}
        decoded = replay_revert(self.client, self.errors, call, receipt)
        if decoded is None:
            return self.results.park(action, f"reverted in block {block}; no revert data (out of gas?)", **mined)
        return self.results.revert(action, decoded, where=f"in block {block}", mined=mined)
