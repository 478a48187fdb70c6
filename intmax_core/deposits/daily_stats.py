"""Per UTC day and token: how many deposits, how much, and how long they took to reach L2.

Computed with pandas from the `deposits` table (one row per deposit with its L1 and L2 block
times) and `token_maps` (decimals, symbol). Amounts are uint256: they stay Python ints (object
dtype) so the base-unit volume is exact; the token-unit volume is a float for charts. Latency
percentiles use pandas' linear interpolation over the day's processed deposits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select

from intmax_core.warehouse.deposits_tables import DepositStatus, deposit_daily_stats, deposits
from intmax_core.warehouse.tokens_tables import token_maps

if TYPE_CHECKING:
    # pandas is imported where it is used: it costs over a second of CPU, and every Dagster run
    # process imports this module with the code location, whether or not it computes statistics.
    import pandas as pd

COLUMNS = [
    "token_index",
    "symbol",
    "decimals",
    "deposit_count",
    "canceled_count",
    "processed_count",
    "volume_base_units",
    "volume",
    "median_processing_seconds",
    "p95_processing_seconds",
]


@dataclass(frozen=True)
class DayTotals:
    deposit_count: int
    tokens: int
    processed_count: int
    median_processing_seconds: float | None


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, UTC)
    return start, start + timedelta(days=1)


def read_day(connection: Connection, day: date) -> pd.DataFrame:
    """The day's deposits (by L1 block time) with their token's symbol and decimals."""
    import pandas as pd

    start, end = _day_bounds(day)
    query = (
        select(
            deposits.c.token_index,
            deposits.c.amount,
            deposits.c.status,
            deposits.c.deposited_at,
            deposits.c.processed_at,
            token_maps.c.symbol,
            token_maps.c.decimals,
        )
        .select_from(deposits.outerjoin(token_maps, token_maps.c.token_index == deposits.c.token_index))
        .where(deposits.c.deposited_at >= start, deposits.c.deposited_at < end)
    )
    rows = connection.execute(query).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows], columns=list(query.selected_columns.keys()))
    frame["amount"] = frame["amount"].astype(object)  # exact ints, never floats
    for column in ("deposited_at", "processed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def compute_day(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per token index of the day (COLUMNS), ordered by token index."""
    import pandas as pd

    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame = frame.assign(processing_seconds=(frame["processed_at"] - frame["deposited_at"]).dt.total_seconds())
    rows: list[dict[str, Any]] = []
    for token_index, group in frame.groupby("token_index", sort=True):
        latency = group["processing_seconds"].dropna()
        decimals = group["decimals"].iloc[0]
        decimals = None if pd.isna(decimals) else int(decimals)
        volume = sum(int(amount) for amount in group["amount"])
        symbol = group["symbol"].iloc[0]
        rows.append(
            {
                "token_index": int(token_index),
                "symbol": None if pd.isna(symbol) else symbol,
                "decimals": decimals,
                "deposit_count": len(group),
                "canceled_count": int((group["status"] == DepositStatus.CANCELED.value).sum()),
                "processed_count": len(latency),
                "volume_base_units": volume,
                "volume": None if decimals is None else float(Decimal(volume).scaleb(-decimals)),
                "median_processing_seconds": float(latency.median()) if len(latency) else None,
                "p95_processing_seconds": float(latency.quantile(0.95)) if len(latency) else None,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def write_day(connection: Connection, day: date, stats: pd.DataFrame) -> None:
    """Replace the day's rows (call inside a transaction: readers see the old or the new day, never half)."""
    connection.execute(delete(deposit_daily_stats).where(deposit_daily_stats.c.day == day))
    if not stats.empty:
        records = [{k: (None if _missing(v) else v) for k, v in r.items()} for r in stats.to_dict("records")]
        connection.execute(insert(deposit_daily_stats), [{"day": day, **r} for r in records])


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (isinstance(value, float) and pd.isna(value))


def totals(stats: pd.DataFrame, frame: pd.DataFrame) -> DayTotals:
    import pandas as pd

    latency = (frame["processed_at"] - frame["deposited_at"]).dt.total_seconds().dropna() if len(frame) else []
    return DayTotals(
        deposit_count=int(stats["deposit_count"].sum()) if len(stats) else 0,
        tokens=len(stats),
        processed_count=int(stats["processed_count"].sum()) if len(stats) else 0,
        median_processing_seconds=float(pd.Series(latency).median()) if len(latency) else None,
    )
