"""What routes depend on: settings, the warehouse engine and Redis, created once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine

from intmax_api.redis_store import RedisStore
from intmax_core.config import Settings
from intmax_core.warehouse.engine import make_engine


@dataclass
class ApiState:
    settings: Settings
    engine: Engine = field(init=False)
    redis: RedisStore = field(init=False)

    def __post_init__(self) -> None:
        # SQLite waits for a lock at most as long as a request may last (reads also get the exact
        # time left per query, intmax_api.warehouse_reads); the default 30 s would outlive the 504.
        busy_ms = int(self.settings.api_request_timeout_seconds * 1000)
        self.engine = make_engine(self.settings.warehouse_url, sqlite_busy_timeout_ms=busy_ms)
        self.redis = RedisStore(self.settings)

    async def aclose(self) -> None:
        self.engine.dispose()
        await self.redis.aclose()


def api_state(request: Request) -> ApiState:
    return request.app.state.intmax
