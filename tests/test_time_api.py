"""GET /v1/time: the original shape, every field consistent with one UTC moment, never cached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from intmax_api.app import create_app
from intmax_api.routers.clock import server_time
from intmax_core.config import load_settings


def test_fields_of_a_fixed_moment() -> None:
    moment = datetime(2026, 3, 1, 23, 4, 5, 678_901, tzinfo=UTC)  # a Sunday
    assert server_time(moment).model_dump() == {
        "year": 2026,
        "month": 3,
        "day": 1,
        "hour": 23,
        "minute": 4,
        "seconds": 5,
        "milliSeconds": 678,
        "dateTime": "2026-03-01T23:04:05.678Z",
        "date": "03/01/2026",
        "time": "23:04",
        "timeZone": "UTC",
        "dayOfWeek": "Sunday",
        "dstActive": False,
    }


def test_the_route_answers_now_in_utc(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(load_settings(data_dir=tmp_path, redis_url=redis_url)))
    before = datetime.now(UTC)
    response = client.get("/v1/time")
    after = datetime.now(UTC)
    assert response.status_code == 200 and "x-cache" not in response.headers
    body = response.json()
    stamp = datetime.fromisoformat(body["dateTime"].replace("Z", "+00:00"))
    assert before - timedelta(milliseconds=1) <= stamp <= after
    assert (body["hour"], body["minute"], body["timeZone"]) == (stamp.hour, stamp.minute, "UTC")
