"""GET /v1/time: the server's current time in UTC, in the original indexer API's shape."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

router = APIRouter(tags=["indexer"])


class ServerTime(BaseModel):
    year: int
    month: int = Field(description="1-12.")
    day: int
    hour: int
    minute: int
    seconds: int
    milliSeconds: int
    dateTime: str = Field(description="ISO-8601, UTC.")
    date: str = Field(description="MM/DD/YYYY.")
    time: str = Field(description="HH:MM (24 h).")
    timeZone: str = "UTC"
    dayOfWeek: str = Field(description="English day name, e.g. Monday.")
    dstActive: bool = False


def server_time(now: datetime) -> ServerTime:
    now = now.astimezone(UTC)
    return ServerTime(
        year=now.year,
        month=now.month,
        day=now.day,
        hour=now.hour,
        minute=now.minute,
        seconds=now.second,
        milliSeconds=now.microsecond // 1000,
        dateTime=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        date=now.strftime("%m/%d/%Y"),
        time=now.strftime("%H:%M"),
        dayOfWeek=now.strftime("%A"),
    )


@router.get("/time", response_model=ServerTime, summary="The server's current time (UTC)")
async def current_time() -> ServerTime:
    return server_time(datetime.now(UTC))
