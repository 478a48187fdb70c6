"""deposit_daily_stats: per day and token figures from `deposits` and `token_maps`, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import insert, select

from intmax_assets.defs.deposits import deposits as deposits_asset
from intmax_assets.defs.deposits.daily_stats import build_deposit_daily_stats
from intmax_assets.resources import WarehouseResource
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.deposits_tables import deposit_daily_stats, deposits
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.tokens_tables import token_maps

DAY = date(2026, 3, 14)
START = datetime(2026, 3, 14, tzinfo=UTC)
HUGE = 2**70 + 12_345  # beyond 64 bits: must be summed exactly
ZERO_HASH = "0x" + "0" * 64


def _deposit(deposit_id: int, token_index: int, amount: int, at: datetime, **extra: Any) -> dict[str, Any]:
    processed_after = extra.pop("processed_after", None)
    status = extra.pop("status", "processed" if processed_after is not None else "pending")
    return {
        "deposit_id": deposit_id,
        "depositor": "0x" + "ab" * 20,
        "recipient_salt_hash": ZERO_HASH,
        "token_index": token_index,
        "amount": amount,
        "is_eligible": True,
        "status": status,
        "deposit_hash": "0x" + f"{deposit_id:064x}",
        "deposit_tx_hash": ZERO_HASH,
        "deposit_block_number": deposit_id,
        "deposited_at": at,
        "processed_at": None if processed_after is None else at + timedelta(seconds=processed_after),
        "processed_tx_hash": None if processed_after is None else ZERO_HASH,
        "processed_block_number": None if processed_after is None else 1,
        "leaf_index": None if processed_after is None else deposit_id,
    }


@pytest.fixture
def settings(warehouse_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    rows = [
        # ETH: processed after 10, 20, 30, 40 and 100 s; one canceled. A deposit just before and
        # one just after the day belong to other days.
        *(_deposit(i, 0, 10**18 * i, START + timedelta(hours=i), processed_after=s)
          for i, s in zip(range(1, 6), (10, 20, 30, 40, 100), strict=True)),
        _deposit(6, 0, 5, START + timedelta(hours=6), status="canceled"),
        _deposit(7, 0, 10**18, START - timedelta(microseconds=1), processed_after=1),
        _deposit(8, 0, 10**18, START + timedelta(days=1), processed_after=1),
        # USDC (6 decimals), one pending; and a token not resolved yet (no decimals).
        _deposit(9, 2, 12_345_678, START + timedelta(hours=1)),
        _deposit(10, 9, HUGE, START + timedelta(hours=2)),
        _deposit(11, 9, HUGE, START + timedelta(hours=3)),
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(deposits), rows)
        for token in [
            {
                "token_index": 0,
                "token_type": 0,
                "contract_address": "0x" + "0" * 40,
                "symbol": "ETH",
                "decimals": 18,
            },
            {
                "token_index": 2,
                "token_type": 1,
                "contract_address": "0x" + "22" * 20,
                "symbol": "USDC",
                "decimals": 6,
            },
            {"token_index": 9, "resolve_error": "symbol() reverted", "resolve_attempts": 1},
        ]:
            connection.execute(insert(token_maps).values(**token))
    engine.dispose()
    return load_settings(data_dir=tmp_path, database_url=warehouse_url, indexing_start_date=date(2026, 1, 1))


def _materialize(settings, day: date) -> dg.ExecuteInProcessResult:  # type: ignore[no-untyped-def]
    asset, _, _ = build_deposit_daily_stats(settings)
    return dg.materialize(
        [asset], partition_key=day.isoformat(), resources={"warehouse": WarehouseResource(url=settings.warehouse_url)}
    )


def _rows(url: str) -> dict[tuple[date, int], dict[str, Any]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(deposit_daily_stats)).mappings().all()
    engine.dispose()
    return {(r["day"], r["token_index"]): dict(r) for r in rows}


def test_a_day_per_token(settings) -> None:  # type: ignore[no-untyped-def]
    result = _materialize(settings, DAY)
    assert result.success
    rows = _rows(settings.warehouse_url)
    assert sorted(rows) == [(DAY, 0), (DAY, 2), (DAY, 9)]
    eth, usdc, unknown = rows[(DAY, 0)], rows[(DAY, 2)], rows[(DAY, 9)]
    assert (eth["deposit_count"], eth["canceled_count"], eth["processed_count"]) == (6, 1, 5)
    assert eth["volume_base_units"] == 15 * 10**18 + 5 and eth["volume"] == pytest.approx(15.0)
    assert eth["median_processing_seconds"] == 30.0
    assert eth["p95_processing_seconds"] == pytest.approx(88.0)  # 40 + 0.8 * (100 - 40)
    assert (usdc["symbol"], usdc["volume"], usdc["processed_count"]) == ("USDC", pytest.approx(12.345678), 0)
    assert usdc["median_processing_seconds"] is None and usdc["p95_processing_seconds"] is None
    assert unknown["volume_base_units"] == 2 * HUGE and unknown["volume"] is None and unknown["decimals"] is None

    (materialization,) = [e.materialization for e in result.get_asset_materialization_events()]
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert (metadata["deposit_count"], metadata["processed_count"], metadata["tokens"]) == (9, 5, 3)
    assert metadata["ETH_volume"] == pytest.approx(15.0) and metadata["USDC_deposits"] == 1
    assert metadata["median_processing_seconds"] == 30.0

    # Re-materializing the day replaces its rows (no duplicates); an empty day writes none.
    assert _materialize(settings, DAY).success and _rows(settings.warehouse_url).keys() == rows.keys()
    assert _materialize(settings, date(2026, 3, 20)).success
    assert {day for day, _ in _rows(settings.warehouse_url)} == {DAY}
    # The day before holds exactly the deposit made one microsecond before midnight.
    assert _materialize(settings, DAY - timedelta(days=1)).success
    before = {k: r for k, r in _rows(settings.warehouse_url).items() if k[0] != DAY}
    assert [(k, r["deposit_count"]) for k, r in before.items()] == [((DAY - timedelta(days=1), 0), 1)]


def test_the_schedule_refreshes_today_and_yesterday_after_midnight(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, indexing_start_date=date(2026, 1, 1))
    asset, schedule, _ = build_deposit_daily_stats(settings)
    resources = {"warehouse": WarehouseResource(url=settings.warehouse_url)}
    defs = dg.Definitions(assets=[asset], schedules=[schedule], resources=resources)

    def partitions_at(moment: datetime) -> list[str | None]:
        context = dg.build_schedule_context(scheduled_execution_time=moment, repository_def=defs.get_repository_def())
        return [r.partition_key for r in schedule.evaluate_tick(context).run_requests or []]

    assert partitions_at(datetime(2026, 3, 15, 0, 10, tzinfo=UTC)) == ["2026-03-14", "2026-03-15"]
    assert partitions_at(datetime(2026, 3, 15, 5, 10, tzinfo=UTC)) == ["2026-03-15"]
    assert partitions_at(datetime(2026, 1, 1, 0, 10, tzinfo=UTC)) == ["2026-01-01"]  # nothing before the start


def test_each_deposits_materialization_refreshes_today_once(settings) -> None:  # type: ignore[no-untyped-def]
    asset, _, sensor = build_deposit_daily_stats(settings)
    resources = {"warehouse": WarehouseResource(url=settings.warehouse_url)}
    defs = dg.Definitions(assets=[asset, deposits_asset], sensors=[sensor], resources=resources)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        assert not sensor.evaluate_tick(context).run_requests  # no deposits materialization yet
        assert dg.materialize([deposits_asset], instance=instance, resources=resources).success
        (request,) = sensor.evaluate_tick(context).run_requests or []
        assert request.partition_key == datetime.now(UTC).date().isoformat()
        context.update_cursor(sensor.evaluate_tick(context).cursor)
        assert not sensor.evaluate_tick(context).run_requests  # the same materialization: nothing new
