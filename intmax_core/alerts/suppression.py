"""Cross-process suppression of repeated alerts, on the warehouse table `alert_deliveries`.

A send is claimed with one statement, the same on SQLite and PostgreSQL:

    INSERT … ON CONFLICT (dedupe_key) DO UPDATE SET last_sent_at = now …
        WHERE last_sent_at IS NULL OR last_sent_at < now - suppress_seconds
    RETURNING dedupe_key

A row back = this process owns the send; none = an identical alert went out within the period (or
is being sent by another process right now). Both backends serialise the upsert on the row, so of
two processes raising the same alert at the same moment exactly one gets the row back.

A failed delivery releases its claim (last_sent_at back to NULL) so that the next attempt sends;
a process killed between claim and delivery leaves the claim in place for one period (the alert is
raised again after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from intmax_core.warehouse.alerts_tables import alert_deliveries

ERROR_MAX_LENGTH = 500


@dataclass(frozen=True)
class Claim:
    """This process's right to send the alert `dedupe_key`, taken at `claimed_at`."""

    dedupe_key: str
    claimed_at: datetime


def claim_send(
    engine: Engine,
    key: str,
    *,
    level: str,
    service: str,
    message: str,
    now: datetime,
    suppress_seconds: float,
) -> Claim | None:
    """Claim the send of this alert, or None when an identical one was sent less than `suppress_seconds` ago."""
    table = alert_deliveries
    cutoff = now - timedelta(seconds=suppress_seconds)
    with engine.begin() as connection:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).values(
            dedupe_key=key,
            level=level,
            service=service,
            message=message,
            last_sent_at=now,
            sent_count=1,
            suppressed_count=0,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.dedupe_key],
            set_={
                "message": statement.excluded.message,  # the latest wording of the alert
                "last_sent_at": statement.excluded.last_sent_at,
                "sent_count": table.c.sent_count + 1,
                "updated_at": statement.excluded.updated_at,
            },
            where=or_(table.c.last_sent_at.is_(None), table.c.last_sent_at < cutoff),
        ).returning(table.c.dedupe_key)
        claimed = connection.execute(statement).first() is not None
        if not claimed:
            connection.execute(
                update(table)
                .where(table.c.dedupe_key == key)
                .values(suppressed_count=table.c.suppressed_count + 1, updated_at=now)
            )
    return Claim(key, now) if claimed else None


def confirm_send(engine: Engine, claim: Claim) -> None:
    """The claimed send was delivered: the row's earlier error no longer describes it."""
    with engine.begin() as connection:
        connection.execute(
            update(alert_deliveries).where(alert_deliveries.c.dedupe_key == claim.dedupe_key).values(last_error=None)
        )


def release_claim(engine: Engine, claim: Claim, error: str, now: datetime) -> None:
    """The claimed send failed: give the claim back (so the next attempt sends) and keep why.

    Only this claim is released: if another process has claimed (and sent) since, its row stays.
    """
    table = alert_deliveries
    with engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.dedupe_key == claim.dedupe_key, table.c.last_sent_at == claim.claimed_at)
            .values(
                last_sent_at=None,
                sent_count=table.c.sent_count - 1,
                last_error=error[:ERROR_MAX_LENGTH],
                updated_at=now,
            )
        )
