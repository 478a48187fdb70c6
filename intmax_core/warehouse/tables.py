"""Every warehouse table, registered on one MetaData: what Alembic compares against the migrations."""

from intmax_core.warehouse import aggregator_tables, deposits_tables, event_tables, ledger, minter_tables, tokens_tables  # noqa: F401 - imported to register their tables
from intmax_core.warehouse.schema import metadata

__all__ = ["metadata"]
