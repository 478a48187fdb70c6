"""The FastAPI application factory: `uvicorn --factory intmax_api.app:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from intmax_api.dependencies import ApiState
from intmax_api.errors import install_error_handlers
from intmax_api.middleware import RequestIdMiddleware
from intmax_api.routers import health
from intmax_core.config import Settings, load_settings

API_PREFIX = "/v1"
# The original's CORS max-age; POST is allowed too (the originals' GET-only CORS broke tx-map).
CORS_MAX_AGE_SECONDS = 7200


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.intmax.close()

    app = FastAPI(title="INTMAX2 pipeline API", version=health.SERVICE_VERSION, lifespan=lifespan)
    app.state.intmax = ApiState(settings)
    origins = [o.strip() for o in settings.allowed_origins.split(",") if o.strip()]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-API-KEY"],
        max_age=CORS_MAX_AGE_SECONDS,
    )
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(health.router, prefix=API_PREFIX)
    return app
