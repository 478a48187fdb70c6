"""Column types shared by warehouse tables."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

UINT256_DIGITS = 78  # 2**256 - 1 has 78 decimal digits
UINT256_MAX = 2**256 - 1


class Uint256(TypeDecorator[int]):
    """An exact uint256 as a Python int.

    PostgreSQL stores it as NUMERIC(78,0). SQLite has no exact type that wide (its NUMERIC affinity
    turns large values into 8-byte floats), so there it is the decimal string zero-padded to 78
    digits: exact, and text order equals numeric order, so ORDER BY, MIN/MAX and range filters on
    such columns work the same on both backends (compare with padded literals on SQLite).
    """

    impl = Numeric(UINT256_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(UINT256_DIGITS))
        return dialect.type_descriptor(Numeric(UINT256_DIGITS, 0))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = int(value)
        if number != value or not 0 <= number <= UINT256_MAX:
            raise ValueError(f"not a uint256: {value!r}")
        return str(number).zfill(UINT256_DIGITS) if dialect.name == "sqlite" else Decimal(number)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


def utc(moment: datetime | None) -> datetime | None:
    """SQLite returns naive UTC datetimes: make every moment aware, so rows compare across backends."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
