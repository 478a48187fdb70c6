"""eth_getLogs block caps learned from providers, kept per chain across runs (table `log_range_caps`).

A provider states its plan cap in an error message the first time a request exceeds it (see
chain.range_hints); the log fetcher then never asks for more. Stored here, the cap lets the next
run start below it instead of paying the refused request (and its log line) again.

Policy: the latest learned cap replaces the stored one, smaller or larger. The table describes the
provider configured now; after a switch to a provider with a lower cap the new, lower value is what
holds, and a higher one from a new provider must be able to replace an old lower one. But a fetcher
that starts from a stored cap never asks for more than it, so it never hears of a higher one: a
stored cap is therefore only used for `DEFAULT_MAX_AGE`, after which one run probes again from the
configured maximum and, if the provider still refuses, stores the cap afresh. Deleting the row has
the same effect at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from intmax_core.warehouse.schema import log_range_caps

# A week: a provider change (which may raise the cap) is noticed within a week, at the cost of one
# refused eth_getLogs per chain and week while it is not.
DEFAULT_MAX_AGE = timedelta(days=7)
# The provider column's width; longer names (none today) are cut rather than refused.
PROVIDER_CHARS = log_range_caps.c.provider.type.length

_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def load_cap(engine: Engine, chain_id: int, *, max_age: timedelta | None = DEFAULT_MAX_AGE) -> int | None:
    """The cap learned for `chain_id`, or None if none was, or it was learned more than `max_age` ago.

    `max_age=None` returns the stored cap however old it is.
    """
    with engine.connect() as connection:
        row = connection.execute(
            select(log_range_caps.c.max_blocks, log_range_caps.c.learned_at).where(
                log_range_caps.c.chain_id == chain_id
            )
        ).first()
    if row is None:
        return None
    if max_age is not None and datetime.now(UTC) - _as_utc(row.learned_at) > max_age:
        return None
    return int(row.max_blocks)


def save_cap(engine: Engine, chain_id: int, max_blocks: int, provider: str) -> None:
    """Record that `provider` caps eth_getLogs on `chain_id` at `max_blocks` blocks, replacing any earlier cap."""
    if max_blocks < 1:
        raise ValueError(f"an eth_getLogs cap must be at least 1 block, not {max_blocks}")
    insert = _UPSERTS.get(engine.dialect.name)
    if insert is None:
        raise NotImplementedError(f"no upsert for the {engine.dialect.name} dialect")
    values = {"max_blocks": max_blocks, "provider": provider[:PROVIDER_CHARS], "learned_at": func.now()}
    statement = insert(log_range_caps).values(chain_id=chain_id, **values)
    statement = statement.on_conflict_do_update(index_elements=[log_range_caps.c.chain_id], set_=values)
    with engine.begin() as connection:
        connection.execute(statement)


def _as_utc(moment: datetime) -> datetime:
    # SQLite keeps CURRENT_TIMESTAMP (UTC) without a zone and hands it back naive; PostgreSQL is aware.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
