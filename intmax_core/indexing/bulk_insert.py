"""Insert many event rows fast, inside the caller's transaction.

SQLAlchemy's executemany spends more time preparing parameters than the database spends storing
them (about half of indexing time in the benchmark). Event rows are plain tuples in table column
order, so they go straight to the driver: PostgreSQL `COPY ... FROM STDIN` (about 8x faster than
multi-row INSERT), SQLite `executemany` on the raw cursor. Values are written exactly as the
column types would write them (tests read them back through SQLAlchemy).

Preparing the driver's input (`prepare_rows`) is separate from writing it (`write_prepared`), so
the indexer can prepare a chunk in its fetch thread while the previous chunk is being written.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

from sqlalchemy import CHAR, Boolean, Connection, DateTime, LargeBinary, String, Table, Text, insert

from intmax_core.warehouse.types import UINT256_DIGITS, Uint256

# SQLAlchemy's storage format for SQLite DATETIME (naive, microseconds); values are UTC.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class PreparedRows:
    """Rows of one table in the form its backend's bulk path takes; `payload` is None when there are none."""

    table: Table
    dialect: str
    count: int
    payload: Any


def prepare_rows(dialect: str, table: Table, rows: Sequence[tuple[Any, ...]]) -> PreparedRows:
    if not rows:
        return PreparedRows(table, dialect, 0, None)
    if dialect == "postgresql":
        return PreparedRows(table, dialect, len(rows), _copy_text(table, rows))
    if dialect == "sqlite":
        return PreparedRows(table, dialect, len(rows), _sqlite_rows(table, rows))
    names = [c.name for c in table.columns]
    return PreparedRows(table, dialect, len(rows), [dict(zip(names, row, strict=True)) for row in rows])


def write_prepared(connection: Connection, prepared: PreparedRows) -> None:
    if prepared.payload is None:
        return
    if prepared.dialect != connection.dialect.name:
        raise ValueError(f"rows prepared for {prepared.dialect}, written to {connection.dialect.name}")
    table = prepared.table
    names = ", ".join(c.name for c in table.columns)
    if prepared.dialect == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        cursor.copy_expert(f"COPY {table.name} ({names}) FROM STDIN", io.StringIO(prepared.payload))
    elif prepared.dialect == "sqlite":
        placeholders = ", ".join("?" * len(table.columns))
        cursor = connection.connection.driver_connection.cursor()
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", prepared.payload)
    else:
        connection.execute(insert(table), prepared.payload)


def insert_rows(connection: Connection, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    write_prepared(connection, prepare_rows(connection.dialect.name, table, rows))


def _sqlite_column(column_type: Any, values: Sequence[Any]) -> Sequence[Any]:
    """One column's values as SQLAlchemy's SQLite types would store them (C-level maps: this runs
    once per value of every indexed row)."""
    if isinstance(column_type, Uint256):
        return list(map(_zero_pad, map(str, values)))
    if isinstance(column_type, DateTime):
        # Rows of one block share their time: format each distinct moment once.
        formatted = {moment: moment.strftime(SQLITE_DATETIME) for moment in set(values)}
        return list(map(formatted.__getitem__, values))
    return values  # ints, bools, str and bytes are stored as sqlite3 adapts them


_zero_pad = methodcaller("zfill", UINT256_DIGITS)


def _sqlite_rows(table: Table, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    columns = list(zip(*rows, strict=True))
    converted = [_sqlite_column(c.type, values) for c, values in zip(table.columns, columns, strict=True)]
    return list(zip(*converted, strict=True))


# COPY text format: backslash escapes, tab-separated, one line per row.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_BOOLEANS = {True: "t", False: "f"}


def _copy_column(column_type: Any, values: Sequence[Any]) -> Sequence[str]:
    """One column's values in COPY text form (event columns are never NULL)."""
    if isinstance(column_type, CHAR):
        return values  # 0x hex hashes and addresses: nothing to escape
    if isinstance(column_type, Boolean):
        return list(map(_COPY_BOOLEANS.__getitem__, values))
    if isinstance(column_type, DateTime):
        formatted = {moment: moment.isoformat() for moment in set(values)}
        return list(map(formatted.__getitem__, values))
    if isinstance(column_type, Text | String):
        return [value.translate(_COPY_ESCAPES) for value in values]
    if isinstance(column_type, LargeBinary):
        return ["\\\\x" + hex_ for hex_ in map(bytes.hex, values)]  # bytea hex input, backslash escaped
    return list(map(str, values))  # integers (uint256 included)


def _copy_text(table: Table, rows: Sequence[tuple[Any, ...]]) -> str:
    columns = list(zip(*rows, strict=True))
    text = [_copy_column(c.type, values) for c, values in zip(table.columns, columns, strict=True)]
    return "\n".join(map("\t".join, zip(*text, strict=True))) + "\n"
