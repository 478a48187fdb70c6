"""Steady API load for the soak: a fixed request rate over a mix of routes, every answer recorded.

The load runs in its own thread with its own event loop, so the soak's main thread can drive the
chains and sample memory meanwhile. Requests carry the API key, which skips the rate limit: a 429
would be the limit working, not the API failing, and would hide the latencies being measured.
An error is a 5xx, a transport failure or timeout, or any status the route should not give
(tx-map reads of digests this load wrote itself must be 200).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

# GET routes cycled in order; the tx-map routes use digests written by this load.
READ_ROUTES = (
    "/v1/health",
    "/v1/time",
    "/v1/token-maps/list",
    "/v1/token-prices/list",
    "/v1/deposits",
    "/v1/indexer/builders",
    "/v1/indexer/builders/meta",
    "/v1/proxy/meta",
)
MAP_WRITE = "/v1/map"
CONCURRENCY = 8
REQUEST_TIMEOUT_SECONDS = 10.0
MAP_EXPIRES_IN_SECONDS = 3600
ERROR_SAMPLES_KEPT = 20


@dataclass
class LoadReport:
    latencies: dict[float, list[float]] = field(default_factory=dict)  # window start -> seconds
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    requests: int = 0
    started_at: float = 0.0  # wall clock, when the load started

    def record(self, started: float, elapsed: float, route: str, outcome: str, error: str | None) -> None:
        self.requests += 1
        self.statuses[outcome] += 1
        self.latencies.setdefault(started, []).append(elapsed)
        if error is not None:
            self.error_count += 1
            if len(self.errors) < ERROR_SAMPLES_KEPT:
                self.errors.append(f"{route}: {error}")

    def all_latencies(self, since: float = 0.0) -> list[float]:
        return [value for start, values in self.latencies.items() if start >= since for value in values]


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class ApiLoad:
    """`rate` requests per second against `base_url` until `stop()`."""

    def __init__(self, base_url: str, api_key: str, rate: float, window_seconds: float = 10.0) -> None:
        self.base_url = base_url
        self.headers = {"X-API-KEY": api_key}
        self.rate = rate
        self.window_seconds = window_seconds
        self.report = LoadReport()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="api-load", daemon=True)
        self._digests: list[str] = []

    def start(self) -> None:
        self.report.started_at = time.time()
        self._thread.start()

    def stop(self) -> LoadReport:
        self._stopping.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS * 2)
        return self.report

    async def _run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=CONCURRENCY * 4)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=REQUEST_TIMEOUT_SECONDS, limits=limits
        ) as client:
            workers = [asyncio.create_task(self._worker(client, queue)) for _ in range(CONCURRENCY)]
            interval, sequence, next_at = 1.0 / self.rate, 0, time.monotonic()
            while not self._stopping.is_set():
                await queue.put(sequence)
                sequence += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await queue.join()
            for worker in workers:
                worker.cancel()

    async def _worker(self, client: httpx.AsyncClient, queue: asyncio.Queue[int]) -> None:
        while True:
            sequence = await queue.get()
            try:
                await self._request(client, sequence)
            finally:
                queue.task_done()

    async def _request(self, client: httpx.AsyncClient, sequence: int) -> None:
        # Every tenth request writes a tx-map entry and every tenth + 5 reads one back.
        slot = sequence % 10
        started = time.monotonic()
        window = time.time() // self.window_seconds * self.window_seconds
        route, expected = READ_ROUTES[sequence % len(READ_ROUTES)], 200
        try:
            if slot == 0:
                route = MAP_WRITE
                digest = secrets.token_hex(16)
                body = {"digest": digest, "data": "soak", "expiresIn": MAP_EXPIRES_IN_SECONDS}
                response = await client.post(route, json=body)
                if response.status_code == expected:
                    self._digests.append(digest)
            elif slot == 5 and self._digests:
                route = f"{MAP_WRITE}/{{digest}}"
                response = await client.get(f"{MAP_WRITE}/{self._digests[sequence % len(self._digests)]}")
            else:
                response = await client.get(route)
        except httpx.HTTPError as error:
            self.report.record(window, time.monotonic() - started, route, type(error).__name__, repr(error))
            return
        status = response.status_code
        error = None if status == expected else f"status {status}: {response.text[:200]}"
        self.report.record(window, time.monotonic() - started, route, str(status), error)
