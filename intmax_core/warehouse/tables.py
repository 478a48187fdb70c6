"""Every warehouse table, registered on one MetaData: what Alembic compares against the migrations."""

# Imported to register their tables on the shared MetaData.
from intmax_core.warehouse import (  # noqa: F401
    aggregator_tables,
    alerts_tables,
    builders_tables,
    deposits_tables,
    event_tables,
    ledger,
    minter_tables,
    tokens_tables,
    txmap_tables,
)
from intmax_core.warehouse.schema import metadata

__all__ = ["metadata"]
