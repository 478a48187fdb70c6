"""tx-map entries: write (overwriting), read (an expired entry is missing at once), clean in batches.

The expiry is checked on every read against the caller's clock, so an entry is never served past
`expires_at`, whether or not the cleaner has run (the original served expired entries until its
cleaner deleted them). The cleaner deletes expired rows in batches of 500, each its own
transaction, so a large backlog never holds a long lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from intmax_core.warehouse.txmap_tables import tx_maps
from intmax_core.warehouse.types import utc

CLEAN_BATCH = 500
MIN_EXPIRES_IN_SECONDS = 300
MAX_EXPIRES_IN_SECONDS = 432_000  # 5 days, also the default


@dataclass(frozen=True)
class TxMap:
    digest: str
    data: str
    expires_at: datetime


def put(connection: Connection, digest: str, data: str, expires_at: datetime) -> None:
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(tx_maps).values(digest=digest, data=data, expires_at=expires_at)
    statement = statement.on_conflict_do_update(
        index_elements=[tx_maps.c.digest],
        set_={
            "data": statement.excluded.data,
            "expires_at": statement.excluded.expires_at,
            "updated_at": statement.excluded.updated_at,
        },
    )
    connection.execute(statement)


def get(connection: Connection, digest: str, now: datetime) -> TxMap | None:
    row = connection.execute(
        select(tx_maps.c.data, tx_maps.c.expires_at).where(tx_maps.c.digest == digest, tx_maps.c.expires_at > now)
    ).first()
    if row is None:
        return None
    expires_at = utc(row.expires_at)
    assert expires_at is not None
    return TxMap(digest, row.data, expires_at)


def clean_expired(engine: Engine, now: datetime, batch: int = CLEAN_BATCH) -> int:
    """Delete every entry expired at `now`, `batch` rows per transaction; returns how many."""
    deleted = 0
    while True:
        with engine.begin() as connection:
            digests = list(
                connection.execute(
                    select(tx_maps.c.digest)
                    .where(tx_maps.c.expires_at <= now)
                    .order_by(tx_maps.c.expires_at)
                    .limit(batch)
                ).scalars()
            )
            if not digests:
                return deleted
            # The expiry is checked again: an entry re-posted since the SELECT is not deleted.
            result = connection.execute(
                delete(tx_maps).where(tx_maps.c.digest.in_(digests), tx_maps.c.expires_at <= now)
            )
            deleted += result.rowcount
