"""A stand-in for Scroll's bridge API on the devnet: `GET /api/l2/unclaimed/withdrawals`.

It runs as its own process (`python -m intmax_devnet.scroll_bridge`), started by `intmax devnet up`
like the CoinGecko stand-in, and lists the L2->L1 messages of the mock messengers that are not yet
relayed on L1 (scroll_bridge_messages.py), in the real API's envelope:

    GET /api/l2/unclaimed/withdrawals?page_size=100&page=1&address=0x<L2 sender contract>
    -> 200 {"errcode": 0, "errmsg": "", "data": {"results": [...], "total": <all unclaimed>}}

`address` is matched against the message's L2 sender (the contract that called sendMessage: the
Withdrawal contract for the messenger-relayer's withdrawal mode), as the real API filters by sender.
`page` counts from 1; `page_size` is 1..100 (the real API's cap). A missing or invalid parameter
answers HTTP 200 with errcode ERRCODE_PARAMETER_INVALID and `data: null`, as the real API does; a
failed chain read answers errcode ERRCODE_CHAIN_READ (never an empty list: "unknown" is not "none").

Admin endpoints for tests (not part of the real API):
- `POST /__faults {"mode": "errcode"|"http"|"delay", "count": n, ...}` makes the next n API requests
  misbehave: "errcode" answers 200 with `{"errcode", "errmsg"}` from the body (default
  DEFAULT_FAULT_ERRCODE and "dial tcp: i/o timeout", the transient case a client must retry);
  "http" answers `"status"` (default 503); "delay" sleeps `"delay_seconds"` then answers normally.
  `count: 0` clears. `GET /__faults` shows what is pending.
- `POST /__claimable {"message_hash": "0x..", "claimable": false|true}` lists a message as not yet
  claimable (its batch not finalised: `claimable: false`, empty proof) or claimable again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from intmax_devnet.anvil import accept_termination_signals, free_port
from intmax_devnet.scroll_bridge_messages import RPC_TIMEOUT_SECONDS, ChainReadError, unclaimed_withdrawals
from intmax_devnet.standin_process import StandInProcess, start_standin_process

UNCLAIMED_WITHDRAWALS_PATH = "/api/l2/unclaimed/withdrawals"
MAX_PAGE_SIZE = 100
# The real API's codes: 40001 = a request parameter is invalid; the chain-read code is the stand-in's.
ERRCODE_PARAMETER_INVALID = 40001
ERRCODE_CHAIN_READ = 50000
DEFAULT_FAULT_ERRCODE = 40003
DEFAULT_FAULT_ERRMSG = "dial tcp 10.0.0.1:5432: i/o timeout"
DEFAULT_FAULT_STATUS = 503
FAULT_MODES = ("errcode", "http", "delay")
HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
HEX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Chains:
    l1_rpc_url: str
    l2_rpc_url: str
    l1_messenger: str
    l2_messenger: str


@dataclass
class Fault:
    mode: str
    count: int
    errcode: int = DEFAULT_FAULT_ERRCODE
    errmsg: str = DEFAULT_FAULT_ERRMSG
    status: int = DEFAULT_FAULT_STATUS
    delay_seconds: float = 0.0


class ScrollBridgeState:
    """What the handler threads share: the chains, the pending fault, the not-claimable hashes."""

    def __init__(self, chains: Chains) -> None:
        self.chains = chains
        self.lock = threading.Lock()
        self.fault: Fault | None = None
        self.not_claimable: set[str] = set()

    def take_fault(self) -> Fault | None:
        with self.lock:
            if self.fault is None or self.fault.count <= 0:
                return None
            self.fault.count -= 1
            return self.fault


class ParameterError(ValueError):
    pass


def parse_query(query: dict[str, str]) -> tuple[int, int, str]:
    """(page, page_size, address) or ParameterError naming the bad parameter."""
    try:
        page, page_size = int(query.get("page", "")), int(query.get("page_size", ""))
    except ValueError as error:
        raise ParameterError("page and page_size must be integers") from error
    if page < 1:
        raise ParameterError("page must be >= 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ParameterError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    address = query.get("address", "")
    if not HEX_ADDRESS.match(address):
        raise ParameterError("address must be a 0x-prefixed 20-byte hex address")
    return page, page_size, address.lower()


class Handler(BaseHTTPRequestHandler):
    server: ScrollBridgeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")
        sys.stderr.flush()

    def _send(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        # A client that gave up (e.g. during a "delay" fault) has closed the socket.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(raw)

    def _envelope(self, errcode: int, errmsg: str, data: object = None) -> None:
        # The real API answers errors with HTTP 200 and a non-zero errcode.
        self._send(200, {"errcode": errcode, "errmsg": errmsg, "data": data})

    # --- admin ---------------------------------------------------------------------------------
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return self._send(400, {"error": "body must be a JSON object"})
        path = urlparse(self.path).path
        if path == "/__faults":
            return self._set_fault(body)
        if path == "/__claimable":
            return self._set_claimable(body)
        return self._send(404, {"error": "not found"})

    def _set_fault(self, body: dict[str, object]) -> None:
        mode, count = body.get("mode"), body.get("count", 1)
        if mode not in FAULT_MODES or not isinstance(count, int) or count < 0:
            return self._send(400, {"error": f"mode must be one of {', '.join(FAULT_MODES)}; count an integer >= 0"})
        try:
            fault = Fault(
                mode=str(mode),
                count=count,
                errcode=int(body.get("errcode", DEFAULT_FAULT_ERRCODE)),  # type: ignore[arg-type]
                errmsg=str(body.get("errmsg", DEFAULT_FAULT_ERRMSG)),
                status=int(body.get("status", DEFAULT_FAULT_STATUS)),  # type: ignore[arg-type]
                delay_seconds=float(body.get("delay_seconds", 0.0)),  # type: ignore[arg-type]
            )
        except (TypeError, ValueError):
            return self._send(400, {"error": "errcode and status must be integers, delay_seconds a number"})
        if fault.mode == "errcode" and fault.errcode == 0:
            return self._send(400, {"error": "an errcode fault needs a non-zero errcode"})
        if fault.mode == "http" and not 400 <= fault.status <= 599:
            return self._send(400, {"error": "status must be an HTTP error status (400..599)"})
        with self.server.state.lock:
            self.server.state.fault = fault
        return self._send(200, fault.__dict__)

    def _set_claimable(self, body: dict[str, object]) -> None:
        message_hash, claimable = body.get("message_hash"), body.get("claimable")
        if not isinstance(message_hash, str) or not HEX_HASH.match(message_hash) or not isinstance(claimable, bool):
            return self._send(400, {"error": "message_hash must be a 0x 32-byte hex hash, claimable a boolean"})
        state = self.server.state
        with state.lock:
            (state.not_claimable.discard if claimable else state.not_claimable.add)(message_hash.lower())
        return self._send(200, {"message_hash": message_hash.lower(), "claimable": claimable})

    # --- the API -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        state = self.server.state
        url = urlparse(self.path)
        if url.path == "/__ready":
            return self._send(200, {"ready": True})
        if url.path == "/__faults":
            fault = state.fault
            return self._send(200, fault.__dict__ if fault and fault.count > 0 else {"mode": None, "count": 0})
        if url.path.rstrip("/") != UNCLAIMED_WITHDRAWALS_PATH:
            return self._send(404, {"error": "not found"})
        fault = state.take_fault()
        if fault is not None and fault.mode == "errcode":
            return self._envelope(fault.errcode, fault.errmsg)
        if fault is not None and fault.mode == "http":
            return self._send(fault.status, {"error": "injected fault"})
        if fault is not None and fault.mode == "delay":
            time.sleep(fault.delay_seconds)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        try:
            page, page_size, address = parse_query(query)
        except ParameterError as error:
            return self._envelope(ERRCODE_PARAMETER_INVALID, f"parameter invalid: {error}")
        with state.lock:
            not_claimable = set(state.not_claimable)
        chains = state.chains
        try:
            with httpx.Client(timeout=RPC_TIMEOUT_SECONDS) as client:
                results = unclaimed_withdrawals(
                    client,
                    l1_rpc_url=chains.l1_rpc_url,
                    l2_rpc_url=chains.l2_rpc_url,
                    l1_messenger=chains.l1_messenger,
                    l2_messenger=chains.l2_messenger,
                    sender=address,
                    not_claimable=not_claimable,
                )
        except ChainReadError as error:
            return self._envelope(ERRCODE_CHAIN_READ, f"reading the chains failed: {error}")
        start = (page - 1) * page_size
        return self._envelope(0, "", {"results": results[start : start + page_size], "total": len(results)})


class ScrollBridgeServer(ThreadingHTTPServer):
    # A handler sleeping in a "delay" fault must not keep the process alive at shutdown.
    daemon_threads = True

    def __init__(self, port: int, state: ScrollBridgeState) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = state


# --- the process, as `intmax devnet up` runs it ----------------------------------------------


class ScrollBridgeStandIn(StandInProcess):
    """The running Scroll bridge API stand-in; its URL is the API base, like https://sepolia-api-bridge-v2.scroll.io."""


def start_standin(chains: Chains, port: int | None = None, *, log_path: Path | None = None) -> ScrollBridgeStandIn:
    """Start the stand-in in its own process group, reading the mock messengers in `chains`."""
    port = port or free_port()
    args = ["--port", str(port), "--l1-rpc-url", chains.l1_rpc_url, "--l2-rpc-url", chains.l2_rpc_url]
    args += ["--l1-messenger", chains.l1_messenger, "--l2-messenger", chains.l2_messenger]
    url = f"http://127.0.0.1:{port}"
    pid = start_standin_process(
        "Scroll bridge", "intmax_devnet.scroll_bridge", args, f"{url}/__ready", log_path=log_path
    )
    return ScrollBridgeStandIn(port=port, pid=pid, log_path=log_path)


def main(argv: list[str] | None = None) -> None:
    accept_termination_signals()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--l1-rpc-url", required=True)
    parser.add_argument("--l2-rpc-url", required=True)
    parser.add_argument("--l1-messenger", required=True, help="MockL1ScrollMessenger address")
    parser.add_argument("--l2-messenger", required=True, help="MockL2ScrollMessenger address")
    args = parser.parse_args(argv)
    chains = Chains(args.l1_rpc_url, args.l2_rpc_url, args.l1_messenger.lower(), args.l2_messenger.lower())
    ScrollBridgeServer(args.port, ScrollBridgeState(chains)).serve_forever()


if __name__ == "__main__":
    main()
