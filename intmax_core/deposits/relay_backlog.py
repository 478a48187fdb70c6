"""What the relay sensor reads: final deposits not yet relayed, from the warehouse alone (no RPC).

"Relayed" is the higher of the indexed `DepositsRelayed` events and the relays this pipeline
finished (the ledger): the tail indexes a relay only once it is final, and without the ledger a
relay just made would look pending for that long and request a run at every tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Connection, cast, func, select

from intmax_core.deposits.relayer import CANCELED, DEPOSITED, FINISHED, PURPOSE, RELAYED, STUCK
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.types import utc


@dataclass(frozen=True)
class RelayBacklog:
    relayed_up_to: int  # highest deposit id known relayed
    last_final: int  # newest indexed (final) deposit id
    pending: int  # indexed deposits above relayed_up_to, canceled ones excluded
    oldest_deposited_at: datetime | None  # L1 block time of the oldest of those
    parked_key: str | None  # a stuck relay above relayed_up_to: runs would only fail until an operator acts

    @property
    def work(self) -> str:
        """The work a run would do, as a run key part: the id range to relay."""
        return f"{self.relayed_up_to + 1}-{self.last_final}"

    def due(self, now: datetime, min_deposits: int, max_wait_seconds: float) -> str | None:
        """Why a relay run is due now (None = not due): enough deposits, or the oldest waited long enough."""
        if self.pending == 0 or self.parked_key is not None:
            return None
        if self.pending >= min_deposits:
            return f"{self.pending} deposits waiting (threshold {min_deposits})"
        assert self.oldest_deposited_at is not None
        waited = (now - self.oldest_deposited_at).total_seconds()
        if waited >= max_wait_seconds:
            return f"oldest of {self.pending} deposits waited {waited:.0f} s (limit {max_wait_seconds:.0f} s)"
        return None


def read_backlog(connection: Connection, liquidity: str) -> RelayBacklog:
    liquidity = liquidity.lower()
    indexed = connection.execute(
        select(func.max(RELAYED.c.up_to_deposit_id)).where(RELAYED.c.address == liquidity)
    ).scalar()
    relay_keys = select(func.max(cast(transactions.c.idempotency_key, BigInteger))).where(
        transactions.c.purpose == PURPOSE, transactions.c.to_address == liquidity
    )
    finished = connection.execute(relay_keys.where(transactions.c.status.in_(FINISHED))).scalar()
    relayed_up_to = max(int(indexed or 0), int(finished or 0))
    stuck = connection.execute(
        select(transactions.c.idempotency_key).where(
            transactions.c.purpose == PURPOSE,
            transactions.c.to_address == liquidity,
            transactions.c.status.in_(STUCK),
            cast(transactions.c.idempotency_key, BigInteger) > relayed_up_to,
        )
    ).first()
    canceled = select(CANCELED.c.deposit_id).where(CANCELED.c.address == liquidity)
    count, oldest = connection.execute(
        select(func.count(), func.min(DEPOSITED.c.block_time)).where(
            DEPOSITED.c.address == liquidity,
            DEPOSITED.c.deposit_id > relayed_up_to,
            DEPOSITED.c.deposit_id.not_in(canceled),
        )
    ).one()
    last_final = connection.execute(
        select(func.max(DEPOSITED.c.deposit_id)).where(DEPOSITED.c.address == liquidity)
    ).scalar()
    return RelayBacklog(
        relayed_up_to=relayed_up_to,
        last_final=int(last_final or 0),
        pending=int(count),
        oldest_deposited_at=utc(oldest),
        parked_key=None if stuck is None else stuck[0],
    )
