"""The watcher: statuses follow the indexed L2 queue and L1 Liquidity events, guarded, nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import withdrawals
from intmax_core.withdrawals.watcher import apply_chain_events
from tests.withdrawal_rows import event, request

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _tx(n: int) -> str:
    return "0x" + f"{n:064x}".replace("0", "a", 1)


def _rows(engine) -> dict[str, tuple[str, str | None, bool]]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        rows = connection.execute(select(withdrawals)).mappings().all()
    return {
        r["withdrawal_hash"]: (
            str(getattr(r["status"], "value", r["status"])),
            r["l1_tx_hash"],
            r["single_withdrawal_proof"] is None,
        )
        for r in rows
    }


def test_statuses_follow_the_events_in_order_and_never_move_back(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        direct = request(connection, 1, T0, status="relayed")
        claimable = request(connection, 2, T0, status="relayed")
        both = request(connection, 3, T0, status="relayed")  # claimable and claimed since the last run
        done = request(connection, 4, T0, status="success")
        untouched = request(connection, 5, T0, status="relayed")  # no event yet
        event(connection, "DirectWithdrawalSuccessed", 10, 0, _tx(1), withdrawal_hash=direct)
        event(connection, "WithdrawalClaimable", 10, 1, _tx(2), withdrawal_hash=claimable)
        event(connection, "WithdrawalClaimable", 11, 0, _tx(3), withdrawal_hash=both)
        event(connection, "ClaimedWithdrawal", 12, 0, _tx(4), withdrawal_hash=both)
        event(connection, "DirectWithdrawalSuccessed", 13, 0, _tx(5), withdrawal_hash=done)
    with engine.begin() as connection:
        stats = apply_chain_events(connection)
    rows = _rows(engine)
    assert rows[direct] == ("success", _tx(1), True)
    assert rows[claimable] == ("need_claim", _tx(2), True)
    assert rows[both] == ("success", _tx(4), True)  # the claim's tx, applied after claimable in one run
    assert rows[done] == ("success", None, False)  # already success: the guard leaves it alone
    assert rows[untouched] == ("relayed", None, False)
    assert stats.applied == {"queued_on_l2": 0, "paid_directly": 1, "made_claimable": 2, "claimed": 1}

    # Running again changes nothing.
    with engine.begin() as connection:
        assert apply_chain_events(connection).total == 0
    assert _rows(engine) == rows
    engine.dispose()


def test_an_event_for_a_row_not_yet_relayed_is_applied_when_it_gets_there(warehouse_url: str) -> None:
    """Defect 2 of the original: the processor crashed after its L2 transaction was mined, before
    writing `relayed`; the original watcher's guarded UPDATE matched nothing and the event was lost."""
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        h = request(connection, 7, T0)  # still `requested`
        event(connection, "DirectWithdrawalSuccessed", 20, 0, _tx(7), withdrawal_hash=h)
    with engine.begin() as connection:
        assert apply_chain_events(connection).total == 0
    assert _rows(engine)[h][0] == "requested"
    # The L2 queue event is indexed: the same run moves it to relayed, then to success.
    with engine.begin() as connection:
        event(connection, "DirectWithdrawalQueued", 5, 0, _tx(70), withdrawal_hash=h)
    with engine.begin() as connection:
        stats = apply_chain_events(connection)
    assert stats.applied["queued_on_l2"] == 1 and stats.applied["paid_directly"] == 1
    assert _rows(engine)[h] == ("success", _tx(7), True)
    engine.dispose()
