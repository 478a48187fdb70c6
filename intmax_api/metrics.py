"""Prometheus metrics of the API and the pipeline: GET /metrics (INTMAX_API_METRICS_ENABLED).

Served on the API port, outside the OpenAPI (not part of the API contract) and outside the rate
limit (a scraper must never see a 429). Each app has its own `CollectorRegistry`, so two apps in
one process (tests) count apart. Exposed:

- `intmax_api_requests_total{route,method,status}`: every answer, 429s, 504s and 500s included
  (`MetricsMiddleware` is the outermost middleware, intmax_api.app);
- `intmax_api_request_duration_seconds{route,method}`: a histogram of the time to answer;
- `intmax_api_cache_lookups_total{route,result}`: result "hit" or "miss" as the cached routes'
  X-Cache header says (intmax_api.cache), so hit ratio = hit / (hit + miss);
- the pipeline gauges read from the warehouse at scrape time (intmax_api.pipeline_collector).

`route` is the route's template (`/v1/deposits/{depositId}`), never the raw path, and "unmatched"
for a path no route serves; `method` outside the standard ones is "other": a label's values must
stay few whatever clients send, or every stray path would become a new series.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intmax_api.cache import CACHE_HEADER
from intmax_api.pipeline_collector import WAREHOUSE_READ_SECONDS, PipelineCollector
from intmax_core.config import Settings

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "other"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Up to the longest a request may last by default (INTMAX_API_REQUEST_TIMEOUT_SECONDS, 30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_CACHE_RESULTS = {b"HIT": "hit", b"MISS": "miss"}
_CACHE_HEADER = CACHE_HEADER.lower().encode()


class ApiMetrics:
    """The app's registry and what it counts."""

    def __init__(self, settings: Settings) -> None:
        # Without this every counter and histogram also exposes a `_created` series: twice the
        # series for a timestamp rate() does not need. The switch is process-wide (the API's process).
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "intmax_api_requests",
            "API answers by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "intmax_api_request_duration_seconds",
            "Time to answer an API request (until the last byte was handed to the server).",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "intmax_api_cache_lookups",
            "Response-cache lookups of the cached routes by result (hit, miss), from their X-Cache header.",
            ("route", "result"),
            registry=self.registry,
        )
        # Half the request deadline at most: a hung warehouse makes /metrics say so, never a 504.
        read_seconds = min(WAREHOUSE_READ_SECONDS, settings.api_request_timeout_seconds / 2)
        self.pipeline = PipelineCollector(settings.warehouse_url, read_seconds=read_seconds)
        self.registry.register(self.pipeline)

    def observe(self, route: str, method: str, status: int, seconds: float, cache: str | None) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        if cache is not None:
            self.cache_lookups.labels(route, cache).inc()

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        await self.pipeline.refresh()
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    regex: re.Pattern[str]
    methods: frozenset[str] | None  # None: any method (a mount)


def route_templates(app: FastAPI) -> tuple[RouteTemplate, ...]:
    """Every route of the app, flattened: since FastAPI 0.137 `app.routes` holds included routers
    as opaque nodes, and `iter_route_contexts` is the public way to their routes' full templates."""
    table = []
    for context in iter_route_contexts(app.routes):
        regex, template = getattr(context, "path_regex", None), context.path_format
        if regex is not None and template is not None:
            methods = frozenset(context.methods) if context.methods is not None else None
            table.append(RouteTemplate(template, regex, methods))
    return tuple(table)


def route_template(table: tuple[RouteTemplate, ...], scope: Scope) -> str:
    """The template of the route that serves (or would serve, but for the method) this request."""
    path = get_route_path(scope)
    partial: str | None = None
    for route in table:
        if not route.regex.match(path):
            continue
        if route.methods is None or scope["method"] in route.methods:
            return route.template
        partial = partial or route.template  # the path matches, the method does not (a 405)
    return partial or UNMATCHED_ROUTE


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._routes: tuple[RouteTemplate, ...] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._routes is None:  # on the first request: every route is registered by then
            self._routes = route_templates(scope["app"])
        # Matched before the app runs: routing rewrites the scope (a mount's root_path).
        route = route_template(self._routes, scope)
        method = scope["method"] if scope["method"] in KNOWN_METHODS else OTHER_METHOD
        started = time.perf_counter()
        status: int | None = None
        cache: str | None = None

        async def send_observed(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                cache = _CACHE_RESULTS.get(dict(message.get("headers", ())).get(_CACHE_HEADER, b""))
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            # Starlette answers an unhandled error with a 500 outside every middleware.
            self.metrics.observe(route, method, status or 500, time.perf_counter() - started, cache)
            raise
        # No response started: the server answers 500 itself.
        self.metrics.observe(route, method, status or 500, time.perf_counter() - started, cache)


def install_metrics_route(app: FastAPI, metrics: ApiMetrics) -> None:
    @app.get(METRICS_PATH, include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        body, content_type = await metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
