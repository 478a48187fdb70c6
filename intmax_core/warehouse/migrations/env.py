"""Alembic environment: migrates the warehouse at the URL from the config or, by default, from settings."""

from __future__ import annotations

from alembic import context

from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.tables import metadata


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from intmax_core.config import load_settings

    return load_settings().warehouse_url


def run_migrations() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `intmax db upgrade`")
run_migrations()
