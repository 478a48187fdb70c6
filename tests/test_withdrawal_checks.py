"""Each withdrawal check passes on a consistent history and fails on the breach it is for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from sqlalchemy import insert, update

from intmax_assets.defs.withdrawals import withdrawals_asset
from intmax_assets.resources import WarehouseResource
from intmax_core.warehouse import migrate
from intmax_core.warehouse.aggregator_tables import withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.engine import make_engine
from tests.withdrawal_rows import event, request

NOW = datetime.now(UTC)
L2_TX = "0x" + "2a" * 32


def _checks(url: str, **config: Any) -> dict[str, tuple[bool, int]]:
    result = dg.materialize(
        [withdrawals_asset],
        resources={"warehouse": WarehouseResource(url=url)},
        run_config={"ops": {"withdrawals": {"config": config}}} if config else None,
    )
    assert result.success
    return {e.check_name: (e.passed, e.metadata["violations"].value) for e in result.get_asset_check_evaluations()}


def test_every_check_passes_then_fails_on_its_breach(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    old = NOW - timedelta(hours=3)
    with engine.begin() as connection:
        # A consistent history: submitted, queued on L2 in the group's tx, paid on L1.
        paid = request(connection, 1, old, status="requested")
        connection.execute(
            insert(withdrawal_groups).values(group_id="g" * 36, status="submitted", member_count=1, l2_tx_hash=L2_TX)
        )
        connection.execute(insert(withdrawal_group_members).values(group_id="g" * 36, position=0, withdrawal_hash=paid))
        event(connection, "DirectWithdrawalQueued", 10, 0, L2_TX, withdrawal_hash=paid, block_time=old)
        event(connection, "DirectWithdrawalSuccessed", 20, 0, "0x" + "1b" * 32, withdrawal_hash=paid)
    assert all(passed for passed, _ in _checks(warehouse_url).values())  # the watcher moves it to success

    with engine.begin() as connection:
        request(connection, 2, old)  # requested for 3 hours
        request(connection, 3, old, status="success")  # no L1 event
        stuck_relay = request(connection, 4, old, status="relayed")
        event(
            connection,
            "ClaimableWithdrawalQueued",
            11,
            0,
            "0x" + "3c" * 32,
            withdrawal_hash=stuck_relay,
            block_time=old,
        )
        # A submitted group whose transaction queued another withdrawal than its member.
        missing = request(connection, 5, old, status="relayed")
        connection.execute(
            insert(withdrawal_groups).values(
                group_id="h" * 36, status="submitted", member_count=1, l2_tx_hash="0x" + "4d" * 32
            )
        )
        connection.execute(
            insert(withdrawal_group_members).values(group_id="h" * 36, position=0, withdrawal_hash=missing)
        )
        event(connection, "DirectWithdrawalQueued", 12, 0, "0x" + "4d" * 32, withdrawal_hash="0x" + "99" * 32)
        event(connection, "DirectWithdrawalSuccessed", 21, 0, "0x" + "5e" * 32, withdrawal_hash=missing)
        # A group left proving for an hour.
        connection.execute(insert(withdrawal_groups).values(group_id="p" * 36, status="proving", member_count=0))
        connection.execute(
            update(withdrawal_groups).where(withdrawal_groups.c.group_id == "p" * 36).values(updated_at=old)
        )
    engine.dispose()
    checks = _checks(warehouse_url)
    assert checks == {
        "requested_withdrawals_are_picked_up": (False, 1),
        "success_is_justified_on_l1": (False, 1),
        "relayed_withdrawals_reach_l1": (False, 1),
        "no_withdrawal_group_stuck": (False, 1),
        "submitted_withdrawals_queued_on_l2": (False, 1),
    }
    # Thresholds are config: generous ones let the time-based checks pass again.
    relaxed = _checks(
        warehouse_url, requested_max_age_minutes=600, relayed_max_age_minutes=600, group_stuck_minutes=600
    )
    assert relaxed["requested_withdrawals_are_picked_up"] == (True, 0)
    assert relaxed["relayed_withdrawals_reach_l1"] == (True, 0)
    assert relaxed["no_withdrawal_group_stuck"] == (True, 0)
