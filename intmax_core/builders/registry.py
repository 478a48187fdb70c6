"""`block_builders` rows from the indexed heartbeats: the latest heartbeat of each builder.

The heartbeats themselves are indexed like every other event stream (reorg-safe, cursor written
with the rows); this module only folds them into one row per builder. A row moves forward only:
an older heartbeat (a backfill of past days) never replaces a newer one, and the health verdict
(`active`, the reasons) is left as it is: the health check decides it, as the original's event
watcher did.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Insert, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from intmax_core.warehouse.builders_tables import block_builders
from intmax_core.warehouse.event_tables import EVENT_TABLES

heartbeats = EVENT_TABLES["BlockBuilderHeartbeat"]
HEARTBEAT_COLUMNS = (
    "url",
    "chain_id",
    "heartbeat_block_number",
    "heartbeat_log_index",
    "heartbeat_tx_hash",
    "last_synced_at",
)


@dataclass(frozen=True)
class RegistrySync:
    builders: int  # builders with a heartbeat on the chain
    changed: int  # rows inserted or moved to a newer heartbeat


def latest_heartbeats(connection: Connection, chain_id: int) -> list[dict[str, object]]:
    """The newest heartbeat (highest block, then log index) of every builder on `chain_id`."""
    rank = (
        func.row_number()
        .over(
            partition_by=heartbeats.c.block_builder,
            order_by=(heartbeats.c.block_number.desc(), heartbeats.c.log_index.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(
            heartbeats.c.block_builder,
            heartbeats.c.url,
            heartbeats.c.block_number,
            heartbeats.c.log_index,
            heartbeats.c.tx_hash,
            heartbeats.c.block_time,
            rank,
        )
        .where(heartbeats.c.chain_id == chain_id)
        .subquery()
    )
    rows = connection.execute(select(ranked).where(ranked.c.rank == 1)).all()
    return [
        {
            "address": row.block_builder.lower(),
            "url": row.url,
            "chain_id": chain_id,
            "heartbeat_block_number": row.block_number,
            "heartbeat_log_index": row.log_index,
            "heartbeat_tx_hash": row.tx_hash,
            "last_synced_at": row.block_time,
        }
        for row in rows
    ]


def sync_block_builders(engine: Engine, chain_id: int) -> RegistrySync:
    """Insert new builders and move known ones to their newest heartbeat, in one transaction."""
    with engine.begin() as connection:
        latest = latest_heartbeats(connection, chain_id)
        # One statement per builder (builders are tens, not thousands): a single statement's rowcount
        # is exact on both backends, an executemany's is not.
        changed = sum(connection.execute(_upsert(connection, row)).rowcount for row in latest)
    return RegistrySync(len(latest), changed)


def _upsert(connection: Connection, row: dict[str, object]) -> Insert:
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(block_builders).values(row)
    excluded = statement.excluded
    newer = tuple_(excluded.heartbeat_block_number, excluded.heartbeat_log_index) > tuple_(
        block_builders.c.heartbeat_block_number, block_builders.c.heartbeat_log_index
    )
    return statement.on_conflict_do_update(
        index_elements=[block_builders.c.address],
        set_={column: excluded[column] for column in HEARTBEAT_COLUMNS} | {"updated_at": func.now()},
        # A heartbeat of another chain id (a re-pointed deployment) always replaces the row.
        where=or_(block_builders.c.chain_id != excluded.chain_id, newer),
    )
