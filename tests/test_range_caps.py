"""Learned eth_getLogs caps persist per chain in the warehouse, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from intmax_core.indexing.range_caps import DEFAULT_MAX_AGE, load_cap, save_cap
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.migrate import upgrade
from intmax_core.warehouse.schema import log_range_caps

L1 = 1
L2 = 534_352


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    yield engine
    engine.dispose()


def _age(engine: Engine, chain_id: int, age: timedelta) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(log_range_caps)
            .where(log_range_caps.c.chain_id == chain_id)
            .values(learned_at=datetime.now(UTC) - age)
        )


def test_a_saved_cap_is_loaded_per_chain(engine: Engine) -> None:
    assert load_cap(engine, L1) is None
    save_cap(engine, L1, 500, "quicknode")
    assert load_cap(engine, L1) == 500
    assert load_cap(engine, L2) is None
    save_cap(engine, L2, 3_000, "ankr")
    assert (load_cap(engine, L1), load_cap(engine, L2)) == (500, 3_000)


def test_the_latest_learned_cap_replaces_the_stored_one_even_when_larger(engine: Engine) -> None:
    save_cap(engine, L1, 2_000, "quicknode")
    save_cap(engine, L1, 100, "chainstack")  # a new provider with a lower cap
    assert load_cap(engine, L1) == 100
    _age(engine, L1, timedelta(days=1))
    save_cap(engine, L1, 10_000, "quicknode")  # and back to one with a higher cap
    assert load_cap(engine, L1) == 10_000
    with engine.connect() as connection:
        row = connection.execute(select(log_range_caps).where(log_range_caps.c.chain_id == L1)).one()
    assert (row.max_blocks, row.provider) == (10_000, "quicknode")
    learned_at = row.learned_at if row.learned_at.tzinfo else row.learned_at.replace(tzinfo=UTC)
    assert datetime.now(UTC) - learned_at < timedelta(hours=1)  # refreshed by the update, not only on insert


def test_an_old_cap_is_not_loaded_so_that_a_raised_cap_can_be_noticed(engine: Engine) -> None:
    save_cap(engine, L1, 500, "quicknode")
    _age(engine, L1, DEFAULT_MAX_AGE - timedelta(hours=1))
    assert load_cap(engine, L1) == 500
    _age(engine, L1, DEFAULT_MAX_AGE + timedelta(hours=1))
    assert load_cap(engine, L1) is None
    assert load_cap(engine, L1, max_age=None) == 500


def test_a_cap_below_one_block_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError):
        save_cap(engine, L1, 0, "quicknode")
    assert load_cap(engine, L1) is None
