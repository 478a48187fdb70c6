"""A stand-in for the public CoinGecko API on the devnet (`/api/v3/ping`, `/coins/list`, `/coins/markets`).

It runs as its own process (`python -m intmax_devnet.coingecko`), started by `intmax devnet up`
like the anvil chains. The shapes follow docs/protocol.md ("CoinGecko API"). Besides serving
deterministic prices it can misbehave on demand, so the price sync's error handling is testable
against real HTTP: `POST /__faults {"mode": "429"|"500"|"503"|"timeout"|"malformed", "count": n}`
makes the next n API requests fail that way (`"delay_seconds"`: how long "timeout" sleeps;
`"retry_after_seconds"`: the Retry-After header of "429"), and `POST /__clock {"now": <unix seconds>|null}`
pins the clock that selects the price bucket.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from intmax_devnet.anvil import accept_termination_signals, free_port
from intmax_devnet.coingecko_catalogue import Coin, build_catalogue, image_url, price_bucket, price_usd
from intmax_devnet.standin_process import StandInProcess, start_standin_process

API_PREFIX = "/api/v3"
PING_MESSAGE = "(V3) To the Moon!"
# The real API's limit on ids per /coins/markets request.
MAX_MARKET_IDS = 250
DEFAULT_PER_PAGE = 100
# The pipeline's client times out after 30 s; a "timeout" fault sleeps past that by default.
DEFAULT_FAULT_DELAY_SECONDS = 35.0
# What a "429" fault's Retry-After header asks for, unless the fault sets "retry_after_seconds".
DEFAULT_RETRY_AFTER_SECONDS = 60
FAULT_MODES = ("429", "500", "503", "timeout", "malformed")
# Header names of CoinGecko's demo and pro keys; either one is accepted.
API_KEY_HEADERS = ("x-cg-demo-api-key", "x-cg-pro-api-key")


class CoinGeckoState:
    """What the handler threads share: the catalogue, pending faults and the (maybe pinned) clock."""

    def __init__(self, coins: list[Coin], api_key: str | None = None) -> None:
        self.coins = coins
        self.by_id = {coin.id: coin for coin in coins}
        self.api_key = api_key
        self.lock = threading.Lock()
        self.fault_mode: str | None = None
        self.fault_count = 0
        self.fault_delay = DEFAULT_FAULT_DELAY_SECONDS
        self.fault_retry_after = DEFAULT_RETRY_AFTER_SECONDS
        self.pinned_now: float | None = None

    def now(self) -> float:
        return self.pinned_now if self.pinned_now is not None else time.time()

    def take_fault(self) -> tuple[str | None, float, int]:
        """(mode, timeout delay, Retry-After of a 429) of the next request; mode None = no fault."""
        with self.lock:
            if self.fault_count <= 0:
                return None, 0.0, 0
            self.fault_count -= 1
            return self.fault_mode, self.fault_delay, self.fault_retry_after


class Handler(BaseHTTPRequestHandler):
    server: CoinGeckoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")
        sys.stderr.flush()

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        # A client that gave up (e.g. after a "timeout" fault) has closed the socket.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(raw)

    def _error(self, status: int, message: str) -> None:
        # The real API wraps errors as {"status": {"error_code", "error_message"}}.
        self._send(status, {"status": {"error_code": status, "error_message": message}})

    # --- admin ---------------------------------------------------------------------------------
    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            return self._error(400, "body must be JSON")
        path = urlparse(self.path).path
        if path == "/__faults":
            mode, count = body.get("mode"), body.get("count", 1)
            if mode not in FAULT_MODES or not isinstance(count, int) or count < 0:
                return self._error(400, f"mode must be one of {', '.join(FAULT_MODES)}; count an integer >= 0")
            with state.lock:
                state.fault_mode, state.fault_count = mode, count
                state.fault_delay = float(body.get("delay_seconds", DEFAULT_FAULT_DELAY_SECONDS))
                state.fault_retry_after = int(body.get("retry_after_seconds", DEFAULT_RETRY_AFTER_SECONDS))
            return self._send(
                200,
                {
                    "mode": mode,
                    "count": count,
                    "delay_seconds": state.fault_delay,
                    "retry_after_seconds": state.fault_retry_after,
                },
            )
        if path == "/__clock":
            now = body.get("now")
            state.pinned_now = None if now is None else float(now)
            return self._send(200, {"now": state.now(), "pinned": now is not None})
        return self._error(404, "not found")

    # --- the API -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        state = self.server.state
        url = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path == "/__faults":
            return self._send(200, {"mode": state.fault_mode, "count": state.fault_count})
        if not url.path.startswith(API_PREFIX):
            return self._error(404, "not found")
        if state.api_key is not None and state.api_key not in (self.headers.get(h) for h in API_KEY_HEADERS):
            return self._error(401, "missing or wrong API key")
        mode, delay, retry_after = state.take_fault()
        if mode == "timeout":
            time.sleep(delay)
        elif mode in ("429", "500", "503"):
            headers = {"Retry-After": str(retry_after)} if mode == "429" else {}
            return self._send(int(mode), {"status": {"error_code": int(mode), "error_message": "fault"}}, headers)
        route = url.path.removeprefix(API_PREFIX)
        if route == "/ping":
            body: object = {"gecko_says": PING_MESSAGE}
        elif route == "/coins/list":
            include = query.get("include_platform", "false").lower() == "true"
            body = [coin.list_entry(include) for coin in state.coins]
        elif route == "/coins/markets":
            if query.get("vs_currency", "").lower() != "usd":
                return self._error(400, "vs_currency must be usd on the devnet stand-in")
            markets = self._markets(query)
            if markets is None:
                return None
            body = markets
        else:
            return self._error(404, "not found")
        if mode == "malformed":
            # Half a JSON document: a 200 whose body does not parse, like a response cut off mid-way.
            raw = json.dumps(body).encode()
            return self._send(200, raw[: max(1, len(raw) // 2)])
        return self._send(200, body)

    def _markets(self, query: dict[str, str]) -> list[dict[str, object]] | None:
        state = self.server.state
        if "ids" in query:
            ids = [part.strip() for part in query["ids"].split(",") if part.strip()]
            if len(ids) > MAX_MARKET_IDS:
                self._error(400, f"at most {MAX_MARKET_IDS} ids per request (got {len(ids)})")
                return None
            # Unknown ids are left out, as the real API does.
            coins = [state.by_id[coin_id] for coin_id in ids if coin_id in state.by_id]
        else:
            per_page = min(int(query.get("per_page", DEFAULT_PER_PAGE)), MAX_MARKET_IDS)
            page = max(int(query.get("page", 1)), 1)
            coins = state.coins[(page - 1) * per_page : page * per_page]
        now = state.now()
        bucket = price_bucket(now)
        updated = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
        return [
            {
                "id": coin.id,
                "symbol": coin.symbol,
                "name": coin.name,
                "image": image_url(coin.id),
                "current_price": price_usd(coin.id, bucket),
                "last_updated": updated,
            }
            for coin in coins
        ]


class CoinGeckoServer(ThreadingHTTPServer):
    # A handler sleeping in a "timeout" fault must not keep the process alive at shutdown.
    daemon_threads = True

    def __init__(self, port: int, state: CoinGeckoState) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = state


# --- the process, as `intmax devnet up` runs it ----------------------------------------------


class CoinGeckoStandIn(StandInProcess):
    """The running CoinGecko stand-in; its URL is the API base (with /api/v3), like the real one's."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"


def start_standin(
    token_addresses: dict[str, str],
    port: int | None = None,
    *,
    log_path: Path | None = None,
    api_key: str | None = None,
) -> CoinGeckoStandIn:
    """Start the stand-in in its own process group; `token_addresses` maps itx/wbtc/usdc to L1 addresses."""
    port = port or free_port()
    args = ["--port", str(port)]
    for key, address in sorted(token_addresses.items()):
        args += ["--token", f"{key}={address}"]
    if api_key is not None:
        args += ["--api-key", api_key]
    url = f"http://127.0.0.1:{port}"
    headers = {API_KEY_HEADERS[0]: api_key} if api_key is not None else None
    pid = start_standin_process(
        "CoinGecko", "intmax_devnet.coingecko", args, f"{url}{API_PREFIX}/ping", log_path=log_path, headers=headers
    )
    return CoinGeckoStandIn(port=port, pid=pid, log_path=log_path)


def main(argv: list[str] | None = None) -> None:
    accept_termination_signals()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", action="append", default=[], help="itx|wbtc|usdc=0xADDRESS")
    parser.add_argument("--api-key", help="require this key in x-cg-demo-api-key or x-cg-pro-api-key")
    args = parser.parse_args(argv)
    tokens = dict(item.split("=", 1) for item in args.token)
    server = CoinGeckoServer(args.port, CoinGeckoState(build_catalogue(tokens), api_key=args.api_key))
    server.serve_forever()


if __name__ == "__main__":
    main()
