"""Reading and writing `block_builders`: the records to judge, the verdicts, what the API serves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, select, update

from intmax_core.builders.health import BuilderRecord, Verdict
from intmax_core.warehouse.builders_tables import block_builders
from intmax_core.warehouse.types import utc


def load_builders(connection: Connection, addresses: Sequence[str] | None = None) -> list[BuilderRecord]:
    """Every builder (or those of `addresses`), ordered by address."""
    query = select(block_builders.c.address, block_builders.c.url, block_builders.c.last_synced_at)
    if addresses is not None:
        query = query.where(block_builders.c.address.in_([address.lower() for address in addresses]))
    rows = connection.execute(query.order_by(block_builders.c.address)).all()
    return [BuilderRecord(row.address, row.url, utc(row.last_synced_at)) for row in rows]  # type: ignore[arg-type]


def write_verdicts(engine: Engine, verdicts: Sequence[Verdict], checked_at: datetime) -> None:
    """Every verdict in one transaction: readers see the old set or the new one, never a mix."""
    if not verdicts:
        return
    statement = (
        update(block_builders)
        .where(block_builders.c.address == bindparam("b_address"))
        .values(
            active=bindparam("b_active"),
            inactive_reason=bindparam("b_reason"),
            inactive_checks=bindparam("b_checks"),
            version=bindparam("b_version"),
            eth_balance_wei=bindparam("b_balance"),
            checked_at=checked_at,
            updated_at=checked_at,
        )
    )
    rows = [
        {
            "b_address": verdict.address,
            "b_active": verdict.active,
            "b_reason": verdict.reason,
            "b_checks": verdict.checks,
            "b_version": verdict.version,
            "b_balance": verdict.eth_balance_wei,
        }
        for verdict in verdicts
    ]
    with engine.begin() as connection:
        connection.execute(statement, rows)


def active_builders(connection: Connection) -> list[tuple[str, str]]:
    """(address, url) of every active builder, ordered by address."""
    query = select(block_builders.c.address, block_builders.c.url).where(block_builders.c.active.is_(True))
    return [(row.address, row.url) for row in connection.execute(query.order_by(block_builders.c.address))]


def registration(connection: Connection, address: str) -> tuple[bool, bool]:
    """(registered: a record exists, ready: it is active) for a lowercase address."""
    active = connection.execute(select(block_builders.c.active).where(block_builders.c.address == address)).first()
    return active is not None, bool(active is not None and active.active)
