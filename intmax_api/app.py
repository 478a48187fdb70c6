"""The FastAPI application factory: `uvicorn --factory intmax_api.app:create_app`.

Every request passes, from the outside in: metrics (if INTMAX_API_METRICS_ENABLED), request id and
request log, security headers, CORS, gzip, `?pretty`, the rate limit, the request timeout, then the
route (whose cache, if any, is `intmax_api.cache`). So every answer is counted, 429s and 504s
included; a 429 or a 504 still has a request id, security and CORS headers and can be
pretty-printed; gzip compresses pretty-printed bodies; the timeout covers the route and its cache
lookups. GET /metrics is exempt from the rate limit (intmax_api.metrics).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from intmax_api.builder_cache import builder_cache_validation
from intmax_api.cache import CACHE_HEADER
from intmax_api.client_address import parse_networks
from intmax_api.dependencies import ApiState
from intmax_api.docs import install_offline_docs
from intmax_api.errors import install_error_handlers
from intmax_api.metrics import METRICS_PATH, ApiMetrics, MetricsMiddleware, install_metrics_route
from intmax_api.middleware import REQUEST_ID_HEADER, RequestIdMiddleware
from intmax_api.pretty import PrettyJsonMiddleware
from intmax_api.rate_limit import RateLimitMiddleware
from intmax_api.routers import clock, deposits, health, indexer, predicate, tokens, txmap, withdrawals
from intmax_api.security_headers import SecurityHeadersMiddleware
from intmax_api.timeout import TimeoutMiddleware
from intmax_core.config import Settings, load_settings

API_PREFIX = "/v1"
# The original's CORS max-age; POST is allowed too (the originals' GET-only CORS broke tx-map).
CORS_MAX_AGE_SECONDS = 7200
# Bodies below this are sent as they are: compressing them costs more than it saves.
GZIP_MINIMUM_BYTES = 500


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Created here, not at import or per request: the client belongs to the server's event loop.
        app.state.predicate_http = predicate.make_client(settings)
        async with builder_cache_validation(app.state.intmax) as validator:
            app.state.builder_cache_validator = validator
            yield
        await app.state.predicate_http.aclose()
        await app.state.intmax.aclose()

    app = FastAPI(
        title="INTMAX2 pipeline API",
        version=health.SERVICE_VERSION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    state = ApiState(settings)
    app.state.intmax = state
    origins = [o.strip() for o in settings.allowed_origins.split(",") if o.strip()]
    metrics = ApiMetrics(settings) if settings.api_metrics_enabled else None
    # Added innermost first: each add_middleware wraps everything added before it.
    app.add_middleware(TimeoutMiddleware, timeout_seconds=settings.api_request_timeout_seconds)
    app.add_middleware(
        RateLimitMiddleware,
        store=state.redis,
        limit=settings.rate_limit,
        window_seconds=settings.rate_limit_window_seconds,
        api_key=settings.api_key,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        exempt_paths=frozenset({METRICS_PATH}) if metrics else frozenset(),
    )
    app.add_middleware(PrettyJsonMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-API-KEY", "If-None-Match"],
        expose_headers=[
            "RateLimit",
            "RateLimit-Policy",
            "Retry-After",
            "ETag",
            CACHE_HEADER,
            REQUEST_ID_HEADER,
        ],
        max_age=CORS_MAX_AGE_SECONDS,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    if metrics is not None:
        app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_error_handlers(app)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(tokens.router, prefix=API_PREFIX)
    app.include_router(deposits.router, prefix=API_PREFIX)
    app.include_router(withdrawals.router, prefix=API_PREFIX)
    app.include_router(txmap.router, prefix=API_PREFIX)
    app.include_router(clock.router, prefix=API_PREFIX)
    app.include_router(indexer.router, prefix=API_PREFIX)
    app.include_router(predicate.router, prefix=API_PREFIX)
    install_offline_docs(app)
    if metrics is not None:
        install_metrics_route(app, metrics)
    return app
