"""The watcher: withdrawal statuses follow the indexed chain events (docs/protocol.md §3).

    requested  --L2 DirectWithdrawalQueued / ClaimableWithdrawalQueued-->  relayed
    relayed    --L1 DirectWithdrawalSuccessed-->  success      [l1_tx_hash, proof cleared]
    relayed    --L1 WithdrawalClaimable-------->  need_claim   [l1_tx_hash, proof cleared]
    need_claim --L1 ClaimedWithdrawal---------->  success      [l1_tx_hash = the claim]

Every transition is an UPDATE guarded by the status it leaves, so nothing moves backwards or
twice, and the steps run in that order in one transaction, so a withdrawal made claimable and
claimed since the last run ends `success`. The events stay in the warehouse: an event for a row
that is not yet in the status it moves from (the processor crashed after its L2 transaction was
mined, before writing `relayed`) is applied by a later run, once the row gets there. The first
step is what gets it there: the L2 queue event proves the submission whatever the processor
recorded. Each run reads only the rows in `requested` that have a queue event and the rows in
`relayed`/`need_claim`, joined with the events by hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, select, update

from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals

S = WithdrawalStatus


@dataclass(frozen=True)
class Transition:
    name: str
    event_tables: tuple[Table, ...]
    from_status: WithdrawalStatus
    to_status: WithdrawalStatus
    records_l1_tx: bool
    clears_proof: bool


TRANSITIONS = (
    Transition(
        "queued_on_l2",
        (EVENT_TABLES["DirectWithdrawalQueued"], EVENT_TABLES["ClaimableWithdrawalQueued"]),
        S.REQUESTED,
        S.RELAYED,
        records_l1_tx=False,
        clears_proof=False,
    ),
    Transition("paid_directly", (EVENT_TABLES["DirectWithdrawalSuccessed"],), S.RELAYED, S.SUCCESS, True, True),
    Transition("made_claimable", (EVENT_TABLES["WithdrawalClaimable"],), S.RELAYED, S.NEED_CLAIM, True, True),
    Transition("claimed", (EVENT_TABLES["ClaimedWithdrawal"],), S.NEED_CLAIM, S.SUCCESS, True, False),
)


@dataclass
class WatchStats:
    applied: dict[str, int] = field(default_factory=lambda: {t.name: 0 for t in TRANSITIONS})

    @property
    def total(self) -> int:
        return sum(self.applied.values())


def _first_event_tx(connection: Connection, transition: Transition) -> dict[str, str]:
    """withdrawal hash -> tx hash of its earliest event, for the rows in the transition's from-status."""
    found: dict[str, tuple[int, int, str]] = {}
    for table in transition.event_tables:
        query = (
            select(table.c.withdrawal_hash, table.c.block_number, table.c.log_index, table.c.tx_hash)
            .join(withdrawals, withdrawals.c.withdrawal_hash == table.c.withdrawal_hash)
            .where(withdrawals.c.status == transition.from_status)
        )
        for row in connection.execute(query):
            position = (row.block_number, row.log_index, row.tx_hash)
            if row.withdrawal_hash not in found or position < found[row.withdrawal_hash]:
                found[row.withdrawal_hash] = position
    return {h: position[2] for h, position in found.items()}


def apply_chain_events(connection: Connection) -> WatchStats:
    """Advance every withdrawal its indexed events justify; call inside a transaction."""
    stats = WatchStats()
    for transition in TRANSITIONS:
        for withdrawal_hash, tx_hash in sorted(_first_event_tx(connection, transition).items()):
            values: dict[str, object] = {"status": transition.to_status}
            if transition.records_l1_tx:
                values["l1_tx_hash"] = tx_hash
            if transition.clears_proof:
                values["single_withdrawal_proof"] = None
            result = connection.execute(
                update(withdrawals)
                .where(withdrawals.c.withdrawal_hash == withdrawal_hash, withdrawals.c.status == transition.from_status)
                .values(**values)
            )
            stats.applied[transition.name] += result.rowcount
    return stats
