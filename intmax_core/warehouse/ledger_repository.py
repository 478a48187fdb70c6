"""All SQL on the transaction ledger (`transactions`, `transaction_attempts`; see intmax_core.warehouse.ledger).

Every write commits before it returns: the sender relies on a row or an attempt being durable
before it broadcasts anything, so that a crash right after a broadcast leaves a ledger the next
run can reconcile with the chain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from intmax_core.warehouse.ledger import TransactionStatus, transaction_attempts, transactions

# Rows whose action has no result yet: `send` of their key reconciles them with the chain.
UNFINISHED = (TransactionStatus.PENDING, TransactionStatus.SENT, TransactionStatus.FAILED, TransactionStatus.DROPPED)
# What an operator may put back in the queue, and what it becomes: `failed` is retryable.
REQUEUEABLE = (TransactionStatus.PARKED, TransactionStatus.REVERTED)


class NotRequeueable(ValueError):
    """The row does not exist or is not parked."""


@dataclass(frozen=True)
class NewAction:
    purpose: str
    idempotency_key: str
    chain_id: int
    signer: str
    to: str
    data: bytes
    value: int

    @property
    def calldata_hash(self) -> str:
        return "0x" + keccak(self.data).hex()


class LedgerRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---------------------------------------------------------------------------------- rows

    def get_or_create(self, action: NewAction) -> tuple[RowMapping, list[str]]:
        """The action's row, written (`pending`) and committed if new; and the names of the fields
        in which an existing row differs from `action` (an idempotency conflict when not empty)."""
        where = and_(transactions.c.purpose == action.purpose, transactions.c.idempotency_key == action.idempotency_key)
        with self.engine.begin() as connection:
            row = connection.execute(select(transactions).where(where)).mappings().one_or_none()
            if row is None:
                # Another process may insert the same key in between: the unique key decides.
                with contextlib.suppress(IntegrityError), connection.begin_nested():
                    connection.execute(
                        insert(transactions).values(
                            purpose=action.purpose,
                            idempotency_key=action.idempotency_key,
                            chain_id=action.chain_id,
                            signer=action.signer,
                            to_address=action.to,
                            value=action.value,
                            calldata_hash=action.calldata_hash,
                            calldata=action.data,
                            status=TransactionStatus.PENDING,
                            attempts=0,
                        )
                    )
                row = connection.execute(select(transactions).where(where)).mappings().one()
        expected = {
            "chain_id": action.chain_id,
            "signer": action.signer,
            "to_address": action.to,
            "calldata_hash": action.calldata_hash,
            "value": action.value,
        }
        return row, sorted(name for name, wanted in expected.items() if row[name] != wanted)

    def row(self, row_id: int) -> RowMapping:
        with self.engine.connect() as connection:
            return connection.execute(select(transactions).where(transactions.c.id == row_id)).mappings().one()

    def find(self, purpose: str, idempotency_key: str) -> RowMapping | None:
        with self.engine.connect() as connection:
            return (
                connection.execute(
                    select(transactions).where(
                        transactions.c.purpose == purpose, transactions.c.idempotency_key == idempotency_key
                    )
                )
                .mappings()
                .one_or_none()
            )

    def update(self, row_id: int, **values: Any) -> RowMapping:
        with self.engine.begin() as connection:
            connection.execute(
                update(transactions).where(transactions.c.id == row_id).values(**values, updated_at=func.now())
            )
        return self.row(row_id)

    def rows_holding_nonces(self, chain_id: int, signer: str, from_nonce: int, exclude_row_id: int) -> list[RowMapping]:
        """Other rows of the signer whose attempts at their nonce (>= `from_nonce`) may still be mined.

        A row's `nonce` is set only while attempts at it may be mined (it is cleared when they
        are known dropped, or when its own transaction was mined and reverted), whatever the
        status: a `failed` or `parked` row's last attempt may still sit in a mempool.
        """
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(transactions.c.id, transactions.c.nonce, transactions.c.status)
                    .where(
                        transactions.c.chain_id == chain_id,
                        transactions.c.signer == signer,
                        transactions.c.nonce >= from_nonce,
                        transactions.c.id != exclude_row_id,
                    )
                    .order_by(transactions.c.nonce)
                ).mappings()
            )

    # ---------------------------------------------------------------------------------- attempts

    def attempts_at(self, row_id: int, nonce: int) -> list[RowMapping]:
        """Every transaction ever signed for the row at `nonce`, newest first."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(transaction_attempts)
                    .where(transaction_attempts.c.transaction_id == row_id, transaction_attempts.c.nonce == nonce)
                    .order_by(transaction_attempts.c.attempt.desc())
                ).mappings()
            )

    def record_attempt(
        self,
        row_id: int,
        *,
        nonce: int,
        tx_hash: str,
        raw: bytes,
        gas_limit: int,
        fee_columns: Mapping[str, int | None],
        broadcast_block: int | None,
    ) -> int:
        """Record a signed transaction (and the row as `sent` at its nonce), committed, before it is broadcast."""
        gas = {"gas_limit": gas_limit, **fee_columns}
        with self.engine.begin() as connection:
            number = connection.execute(
                select(func.count())
                .select_from(transaction_attempts)
                .where(transaction_attempts.c.transaction_id == row_id)
            ).scalar_one()
            attempt_id = connection.execute(
                insert(transaction_attempts)
                .values(
                    transaction_id=row_id,
                    attempt=number,
                    nonce=nonce,
                    tx_hash=tx_hash,
                    raw_transaction=raw,
                    broadcast_block=broadcast_block,
                    **gas,
                )
                .returning(transaction_attempts.c.id)
            ).scalar_one()
            connection.execute(
                update(transactions)
                .where(transactions.c.id == row_id)
                .values(
                    status=TransactionStatus.SENT,
                    nonce=nonce,
                    tx_hash=tx_hash,
                    attempts=number + 1,
                    updated_at=func.now(),
                    **gas,
                )
            )
        return attempt_id

    def note_broadcast_error(self, attempt_id: int, message: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(transaction_attempts)
                .where(transaction_attempts.c.id == attempt_id)
                .values(broadcast_error=message)
            )

    def unfinished(self, purpose: str, chain_id: int, signer: str) -> list[RowMapping]:
        """The purpose's rows of this signer that an earlier call left without a result, oldest first."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(transactions)
                    .where(
                        transactions.c.purpose == purpose,
                        transactions.c.chain_id == chain_id,
                        transactions.c.signer == signer,
                        transactions.c.status.in_(UNFINISHED),
                    )
                    .order_by(transactions.c.id)
                ).mappings()
            )

    # ---------------------------------------------------------------------------------- operators

    def list_rows(
        self, *, status: TransactionStatus | None = None, purpose: str | None = None, limit: int = 100
    ) -> Sequence[RowMapping]:
        query = select(transactions).order_by(transactions.c.id).limit(limit)
        if status is not None:
            query = query.where(transactions.c.status == status)
        if purpose is not None:
            query = query.where(transactions.c.purpose == purpose)
        with self.engine.connect() as connection:
            return connection.execute(query).mappings().all()

    def status_counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(transactions.c.status, func.count()).group_by(transactions.c.status))
            counts = {status: count for status, count in rows}
        return {status.value: counts.get(status, 0) for status in TransactionStatus}

    def requeue(self, purpose: str, idempotency_key: str, *, note: str = "re-queued by an operator") -> RowMapping:
        """Make a parked row retryable (`failed`): the next `send` of its key reconciles and tries again.

        A row whose transaction was mined (and reverted, or failed its check) needs a new one, so
        its nonce is cleared; otherwise the nonce is kept, since its attempts may still be mined.
        Raises NotRequeueable for a missing row or one in another status.
        """
        row = self.find(purpose, idempotency_key)
        if row is None:
            raise NotRequeueable(f"no ledger row {purpose}/{idempotency_key}")
        if TransactionStatus(row["status"]) not in REQUEUEABLE:
            raise NotRequeueable(f"{purpose}/{idempotency_key} is {row['status']}, not parked")
        values: dict[str, Any] = {
            "status": TransactionStatus.FAILED,
            "parked_reason": None,
            "last_error": f"{note} (was {row['status']}: {row['parked_reason'] or row['last_error']})",
        }
        if row["block_number"] is not None:
            values.update(nonce=None, block_number=None, block_hash=None, gas_used=None)
        with self.engine.begin() as connection:
            # Guarded by the status, so a concurrent requeue (or a sender) changes it once.
            connection.execute(
                update(transactions)
                .where(transactions.c.id == row["id"], transactions.c.status == row["status"])
                .values(**values, updated_at=func.now())
            )
        return self.row(row["id"])
