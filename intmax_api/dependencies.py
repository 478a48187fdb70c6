"""What routes depend on: settings and the warehouse engine, created once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine

from intmax_core.config import Settings
from intmax_core.warehouse.engine import make_engine


@dataclass
class ApiState:
    settings: Settings
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.warehouse_url)

    def close(self) -> None:
        self.engine.dispose()


def api_state(request: Request) -> ApiState:
    return request.app.state.intmax
