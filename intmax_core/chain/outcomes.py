"""What a send came to: `TxOutcome`, and the ledger writes that record each result of an action.

The sender decides *which* result an action reached; `OutcomeRecorder` writes it, with the log
line that goes with it, so that every path to a status looks the same in the ledger and the logs:

    confirmed   mined with status 1 at depth (and its receipt check passed)
    settled     a revert the purpose declared "already done"
    failed      retryable: a revert declared "may succeed later", max attempts, a node rejection
    parked      will not succeed as it is; ERROR line naming the action (the alert)
    dropped     its nonce was positively taken by another transaction; it starts over
    unknown     the chain's answer could not be read: only `last_error` changes

The state machine itself is described in intmax_core.warehouse.ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from intmax_core.chain.errors import DecodedRevert
from intmax_core.chain.reconciler import NonceTaken
from intmax_core.chain.send_policy import RevertClass, classify_revert
from intmax_core.warehouse.ledger import TransactionStatus
from intmax_core.warehouse.ledger_repository import LedgerRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TxOutcome:
    purpose: str
    idempotency_key: str
    status: TransactionStatus
    tx_hash: str | None
    nonce: int | None
    block_number: int | None
    attempts: int
    error_selector: str | None = None
    error_name: str | None = None
    error_args: list[Any] | None = None
    last_error: str | None = None
    parked_reason: str | None = None

    @property
    def ok(self) -> bool:
        """The action is done on chain (mined with success, or the chain already reflected it)."""
        return self.status in (TransactionStatus.CONFIRMED, TransactionStatus.SETTLED)

    @property
    def parked(self) -> bool:
        """The action will not succeed as it is; it waits for an operator to re-queue it."""
        return self.status is TransactionStatus.PARKED

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TxOutcome:
        return cls(
            purpose=row["purpose"],
            idempotency_key=row["idempotency_key"],
            status=TransactionStatus(row["status"]),
            tx_hash=row["tx_hash"],
            nonce=row["nonce"],
            block_number=row["block_number"],
            attempts=row["attempts"],
            error_selector=row["error_selector"],
            error_name=row["error_name"],
            error_args=row["error_args"],
            last_error=row["last_error"],
            parked_reason=row["parked_reason"],
        )


@dataclass(kw_only=True)
class RowRef:
    """A ledger row being driven, and what its purpose declared about reverts."""

    row_id: int
    purpose: str
    idempotency_key: str
    already_done: frozenset[str] = frozenset()
    retryable: frozenset[str] = frozenset()
    log: dict[str, Any]


def mined_columns(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The ledger columns a receipt fills (`hash` is the attempt's hash as recorded)."""
    return {
        "tx_hash": receipt["hash"],
        "block_number": int(receipt["blockNumber"], 16),
        "block_hash": receipt["blockHash"].lower(),
        "gas_used": int(receipt["gasUsed"], 16),
    }


class OutcomeRecorder:
    def __init__(self, ledger: LedgerRepository) -> None:
        self.ledger = ledger

    def confirmed(self, ref: RowRef, mined: Mapping[str, Any]) -> TxOutcome:
        logger.info("transaction confirmed", extra={**ref.log, **mined})
        return self._write(ref, status=TransactionStatus.CONFIRMED, last_error=None, **mined)

    def revert(
        self, ref: RowRef, decoded: DecodedRevert, *, where: str, mined: Mapping[str, Any] | None = None
    ) -> TxOutcome:
        """A revert (at estimation, at broadcast, or mined at depth), classified for the row's purpose."""
        kind = classify_revert(decoded, ref.already_done, ref.retryable)
        message = f"reverted {where}: {decoded.describe()}"
        values: dict[str, Any] = {
            "error_selector": decoded.selector,
            "error_name": decoded.name,
            "error_args": decoded.json_args() if decoded.name else None,
            **(mined or {}),
        }
        if kind is RevertClass.NEVER:
            return self.park(ref, message, **values)
        if kind is RevertClass.ALREADY_DONE:
            status = TransactionStatus.SETTLED
        else:
            status = TransactionStatus.FAILED
            if mined:
                values["nonce"] = None  # its own transaction used the nonce: the next try needs a new one
        logger.info("transaction %s: %s", status.value, message, extra=ref.log)
        return self._write(ref, status=status, last_error=message, **values)

    def park(self, ref: RowRef, reason: str, **values: Any) -> TxOutcome:
        # The alert: an ERROR line naming the action; the transaction_ledger asset's
        # no_parked_transactions check also fails for as long as the row stays parked.
        logger.error("transaction parked: %s/%s: %s", ref.purpose, ref.idempotency_key, reason, extra=ref.log)
        return self._write(ref, status=TransactionStatus.PARKED, parked_reason=reason, last_error=reason, **values)

    def fail(self, ref: RowRef, message: str) -> TxOutcome:
        logger.warning("giving up for now: %s", message, extra=ref.log)
        return self._write(ref, status=TransactionStatus.FAILED, last_error=message)

    def drop(self, ref: RowRef, nonce: int, taken: NonceTaken) -> None:
        message = (
            f"nonce {nonce} was used by {taken.tx_hash} in block {taken.block_number}; "
            "none of this row's attempts was mined"
        )
        logger.warning(message, extra=ref.log)
        self._write(ref, status=TransactionStatus.DROPPED, nonce=None, last_error=message)

    def unknown(self, ref: RowRef, reason: str) -> TxOutcome:
        message = f"outcome unknown, left as it is until the next send: {reason}"
        logger.warning(message, extra=ref.log)
        return self._write(ref, last_error=message)

    def in_flight(self, ref: RowRef, message: str, **seen: Any) -> TxOutcome:
        """Mined but not (or no longer) at depth: `sent`, for the next send to reconcile."""
        logger.warning(message, extra=ref.log)
        return self._write(ref, status=TransactionStatus.SENT, last_error=message, **seen)

    def _write(self, ref: RowRef, **values: Any) -> TxOutcome:
        return TxOutcome.from_row(self.ledger.update(ref.row_id, **values))
