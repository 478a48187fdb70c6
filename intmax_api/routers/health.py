"""GET /v1/health: the original's shape, plus the status of each dependency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version

import anyio
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


async def _run_probes(checks: dict[str, Callable[[], DependencyStatus]]) -> dict[str, DependencyStatus]:
    """Run the blocking probes concurrently, one worker thread each. No outer timeout: every probe
    ends by its own deadline (intmax_core.health), so a thread is never left waiting on a hung server."""
    results: dict[str, DependencyStatus] = {}

    async def run(name: str, check: Callable[[], DependencyStatus]) -> None:
        results[name] = await anyio.to_thread.run_sync(check)

    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(run, name, check)
    return {name: results[name] for name in checks}


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": HealthUnavailable, "description": "A dependency is down"}},
)
async def health(state: ApiState = Depends(api_state)) -> Health | JSONResponse:
    settings = state.settings
    timeout = settings.health_timeout_seconds
    checks: dict[str, Callable[[], DependencyStatus]] = {
        "warehouse": lambda: warehouse_status(settings.warehouse_url, timeout)
    }
    # The configured Redis, or the embedded one (its unix socket): rate limit and cache use it.
    redis_url = state.redis.url
    checks["redis"] = lambda: redis_status(redis_url, timeout)
    results = await _run_probes(checks)
    dependencies = {
        name: Dependency(status="up" if r.up else "down", latencyMs=r.latency_ms, error=r.error)
        for name, r in results.items()
    }
    if all(r.up for r in results.values()):
        return Health(
            status="OK",
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            application=Application(version=SERVICE_VERSION),
            dependencies=dependencies,
        )
    down = ", ".join(name for name, r in results.items() if not r.up)
    body = HealthUnavailable(
        code="SERVICE_UNAVAILABLE", message=f"Unavailable dependencies: {down}", dependencies=dependencies
    )
    return JSONResponse(body.model_dump(), status_code=503, headers={"Cache-Control": "no-store"})
