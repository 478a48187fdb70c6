"""The collector: groups in request order, claimed in the database, never one withdrawal twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from intmax_assets.definitions import build_definitions, build_resources
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.aggregator_tables import withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.engine import make_engine
from intmax_core.withdrawals.collector import CollectorPolicy, collect
from tests.withdrawal_rows import request, withdrawal_hash

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = CollectorPolicy(min_batch_size=5, min_wait=timedelta(minutes=5), group_size=2)


def _members(engine) -> list[tuple[str, int, str, bool]]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        rows = connection.execute(
            select(withdrawal_group_members).order_by(withdrawal_group_members.c.group_id, "position")
        ).mappings()
        return [(r["group_id"], r["position"], r["withdrawal_hash"], r["released_at"] is None) for r in rows]


def test_the_policy_and_the_order(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        # Four young requests (below the batch size of 5): not yet.
        for i, age in ((4, 1), (3, 2), (2, 2), (1, 3)):  # created_at ties broken by withdrawal_hash
            request(connection, i, NOW - timedelta(minutes=age))
        request(connection, 9, NOW - timedelta(hours=1), status="relayed")  # not requested: never grouped
    with engine.begin() as connection:
        assert collect(connection, POLICY, NOW) == []
    # The oldest reaches 5 minutes: every waiting row is grouped, oldest first, in groups of 2.
    with engine.begin() as connection:
        groups = collect(connection, POLICY, NOW + timedelta(minutes=2))
    order = [withdrawal_hash(i) for i in (1, 2, 3, 4)]
    assert [g.withdrawal_hashes for g in groups] == [order[:2], order[2:]]
    positions = {g: [h for group, _, h, _ in _members(engine) if group == g] for g in (x.group_id for x in groups)}
    assert positions == {groups[0].group_id: order[:2], groups[1].group_id: order[2:]}  # chain order = position
    with engine.connect() as connection:
        statuses = dict(connection.execute(select(withdrawal_groups.c.group_id, withdrawal_groups.c.status)).all())
    assert set(statuses.values()) == {"collected"}
    # Claimed rows are not grouped again; a fifth row alone waits for the policy (and the short last chunk goes too).
    with engine.begin() as connection:
        request(connection, 5, NOW)
        assert collect(connection, POLICY, NOW) == []
        (late,) = collect(connection, POLICY, NOW + timedelta(minutes=6))
    assert late.withdrawal_hashes == [withdrawal_hash(5)]
    # A released membership frees the withdrawal for a later group.
    with engine.begin() as connection:
        connection.execute(
            update(withdrawal_group_members)
            .where(withdrawal_group_members.c.group_id == groups[0].group_id)
            .values(released_at=NOW)
        )
        (again,) = collect(connection, POLICY, NOW + timedelta(minutes=6))
    assert again.withdrawal_hashes == order[:2]
    engine.dispose()


def test_the_database_refuses_a_second_live_membership(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as connection:
        h = request(connection, 1, NOW - timedelta(hours=1))
        (group,) = collect(connection, POLICY, NOW)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(withdrawal_groups).values(group_id="x" * 36, status="collected", member_count=1))
        connection.execute(insert(withdrawal_group_members).values(group_id="x" * 36, position=0, withdrawal_hash=h))
    assert [m[0] for m in _members(engine)] == [group.group_id]
    engine.dispose()


def test_two_collectors_at_once_never_share_a_withdrawal(postgres_url: str) -> None:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        for i in range(1, 301):
            request(connection, i, NOW - timedelta(hours=1, seconds=i))
    policy = CollectorPolicy(min_batch_size=1, min_wait=timedelta(0), group_size=50, max_groups=4)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def collector() -> None:
        try:
            barrier.wait()
            with make_engine(postgres_url).begin() as connection:
                collect(connection, policy, NOW)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=collector) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    members = _members(engine)
    hashes = [h for _, _, h, _ in members]
    assert len(hashes) == len(set(hashes)) == 300  # 4 collectors x 200 allowed, but each row once
    engine.dispose()


def test_the_collector_sensor(warehouse_url: str, tmp_path: Path) -> None:
    migrate.upgrade(warehouse_url)
    settings = load_settings(data_dir=tmp_path, database_url=warehouse_url, withdrawal_min_batch_size=3)
    defs = build_definitions(settings)
    sensor = defs.get_sensor_def("withdrawal_collector_sensor")
    engine = make_engine(warehouse_url)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=defs, resources=build_resources(settings))
        with engine.begin() as connection:
            for i in (1, 2):
                request(connection, i, datetime.now(UTC))
        idle = sensor.evaluate_tick(context)
        assert not idle.run_requests and "2 requested withdrawals waiting" in (idle.skip_message or "")
        with engine.begin() as connection:
            request(connection, 3, datetime.now(UTC))
        (run,) = sensor.evaluate_tick(context).run_requests or []
        assert run.run_key.startswith("collect:") and run.run_key.endswith("+3")
        job = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection={dg.AssetKey("withdrawal_groups")}
        )
        assert job.execute_in_process(instance=instance, tags=run.tags).success
        after = sensor.evaluate_tick(context)
        assert not after.run_requests and "0 requested withdrawals waiting" in (after.skip_message or "")
    assert len(_members(engine)) == 3
    engine.dispose()
