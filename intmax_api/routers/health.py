"""GET /v1/health: the original's shape, plus the status of each dependency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from importlib.metadata import version

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from intmax_api.dependencies import ApiState, api_state
from intmax_core.health import DependencyStatus, redis_status, warehouse_status

router = APIRouter(tags=["health"])
SERVICE_VERSION = version("intmax-pipeline")


class Dependency(BaseModel):
    status: str  # "up" | "down"
    latencyMs: float
    error: str | None = None


class Application(BaseModel):
    version: str


class Health(BaseModel):
    status: str
    timestamp: str
    application: Application
    dependencies: dict[str, Dependency]


class HealthUnavailable(BaseModel):
    code: str
    message: str
    dependencies: dict[str, Dependency]


async def _bounded(check, timeout: float) -> DependencyStatus:  # type: ignore[no-untyped-def]
    try:
        return await asyncio.wait_for(asyncio.to_thread(check), timeout)
    except TimeoutError:
        return DependencyStatus(False, timeout * 1000, "Timeout")


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": HealthUnavailable, "description": "A dependency is down"}},
)
async def health(state: ApiState = Depends(api_state)) -> Health | JSONResponse:
    timeout = state.settings.health_timeout_seconds
    checks = {"warehouse": lambda: warehouse_status(state.engine)}
    if state.settings.redis_url:
        url = state.settings.redis_url
        checks["redis"] = lambda: redis_status(url, timeout)
    results = await asyncio.gather(*(_bounded(check, timeout) for check in checks.values()))
    dependencies = {
        name: Dependency(status="up" if r.up else "down", latencyMs=r.latency_ms, error=r.error)
        for name, r in zip(checks, results, strict=True)
    }
    if all(r.up for r in results):
        return Health(
            status="OK",
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            application=Application(version=SERVICE_VERSION),
            dependencies=dependencies,
        )
    down = ", ".join(name for name, r in zip(checks, results, strict=True) if not r.up)
    body = HealthUnavailable(
        code="SERVICE_UNAVAILABLE", message=f"Unavailable dependencies: {down}", dependencies=dependencies
    )
    return JSONResponse(body.model_dump(), status_code=503, headers={"Cache-Control": "no-store"})
