"""A JSON-RPC proxy on loopback that forwards to a real node and injects faults on demand.

Usage::

    with RpcFaultProxy(anvil.rpc_url, FaultPlan.random(seed=7, failure_rate=0.3)) as proxy:  # or program it:
        proxy.queue_faults(HTTP_429, DROP)           # the next two HTTP requests fail, then all pass
        proxy.limit_log_range(100, style="alchemy")  # eth_getLogs over >100 blocks is refused
        proxy.truncate_logs(10_000)                  # eth_getLogs results silently cut to 10,000
        proxy.stall_log_range(500)                   # eth_getLogs over >500 blocks stalls like SLOW
        proxy.random_faults(rate=0.3, seed=7)        # deterministic mix of faults
        proxy.override("eth_getTransactionReceipt", fault=HTTP_503)  # one method fails until cleared
        proxy.override("eth_getTransactionReceipt", result=None)     # ... or answers null (a lagging node)
        proxy.after("eth_getTransactionReceipt", mine_a_block)       # act once a request was answered
        client = RpcClient([proxy.url + "/secret-key"])

Faults apply per HTTP request (a batch is one request). The path of the URL is ignored, so tests can
put a fake API key in it. Counters (`requests`, `forwarded`, `methods`, `max_in_flight`,
`log_spans`) tell what reached the proxy and what it passed on. A JSON-RPC error with any message
is `queue_faults(rpc_error(code, message))`.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from intmax_devnet.anvil import free_port

# The proxy waits this long on a SLOW fault; tests give their client a shorter timeout.
DEFAULT_SLOW_SECONDS = 3.0
UPSTREAM_TIMEOUT_SECONDS = 30.0
HTTP_OK = 200
# How often the server loop checks for stop(); the default 0.5 s would add that much to every test.
SERVE_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Fault:
    """What the proxy does instead of forwarding: answer an HTTP status, drop, stall, or a JSON-RPC error."""

    kind: str  # "http" | "drop" | "slow" | "rpc_error"
    status: int = 0
    code: int = 0
    message: str = ""


def rpc_error(code: int, message: str) -> Fault:
    return Fault("rpc_error", code=code, message=message)


HTTP_429 = Fault("http", status=429)
HTTP_503 = Fault("http", status=503)
DROP = Fault("drop")
SLOW = Fault("slow")
RATE_LIMITED = rpc_error(-32005, "rate limit exceeded, please retry later")
HEADER_NOT_FOUND = rpc_error(-32000, "header not found")
INTERNAL_TIMEOUT = rpc_error(-32603, "request timeout")
MIXED_FAULTS = (HTTP_429, HTTP_503, DROP, SLOW, RATE_LIMITED, HEADER_NOT_FOUND, INTERNAL_TIMEOUT)


@dataclass(frozen=True)
class FaultPlan:
    """Faults a proxy starts with; `RpcFaultProxy` methods change them later."""

    failure_rate: float = 0.0
    seed: int = 0
    kinds: tuple[Fault, ...] = MIXED_FAULTS
    queued: tuple[Fault, ...] = ()
    max_log_blocks: int | None = None
    log_range_style: str = "results"

    @classmethod
    def random(cls, *, seed: int, failure_rate: float, kinds: Sequence[Fault] = MIXED_FAULTS) -> FaultPlan:
        """Fail a fraction `failure_rate` of requests with faults drawn from `kinds`, reproducibly per seed."""
        return cls(failure_rate=failure_rate, seed=seed, kinds=tuple(kinds))


# How providers refuse a too-wide eth_getLogs, keyed by the `style` of limit_log_range.
LOG_RANGE_STYLES = ("results", "alchemy", "infura", "quicknode")


# Called with (request, upstream response document) after a request was forwarded, before the answer
# goes back; returns a replacement document, or None to send the upstream one.
AfterHook = Callable[[dict[str, Any], Any], Any]
_UNSET = object()


@dataclass
class _Override:
    """What the proxy answers for one JSON-RPC method instead of forwarding it."""

    fault: Fault | None
    result: Any
    remaining: int | None  # None: until cleared


@dataclass
class _After:
    hook: AfterHook
    when: Callable[[Any], bool] | None
    remaining: int | None


def log_range_error(style: str, from_block: int, max_blocks: int) -> dict[str, Any]:
    fitting = f"[{hex(from_block)}, {hex(from_block + max_blocks - 1)}]"
    if style == "results":
        return {"code": -32005, "message": "query returned more than 10000 results"}
    if style == "alchemy":
        return {
            "code": -32602,
            "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range "
            "and no limit on the response size, or you can request any block range with a cap of 10K logs in "
            f"the response. Based on your parameters, this block range should work: {fitting}",
        }
    if style == "infura":
        return {
            "code": -32005,
            "message": f"query returned more than 10000 results. Try with this block range {fitting}.",
        }
    if style == "quicknode":
        return {"code": -32614, "message": f"eth_getLogs is limited to a {max_blocks:,} range"}
    raise ValueError(f"unknown log range style {style!r}")


class RpcFaultProxy:
    def __init__(
        self, upstream_url: str, plan: FaultPlan | None = None, *, slow_seconds: float = DEFAULT_SLOW_SECONDS
    ) -> None:
        self.upstream_url = upstream_url
        self.slow_seconds = slow_seconds
        self.port = free_port()
        self.reject_batches = False
        self.hold_seconds = 0.0  # delay before forwarding each request (to overlap concurrent requests)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._queued: list[Fault] = []
        self._max_log_blocks: int | None = None
        self._log_range_style = "results"
        self._max_log_results: int | None = None
        self._stall_log_blocks: int | None = None
        self._random_rate = 0.0
        self._random_kinds: Sequence[Fault] = MIXED_FAULTS
        self._rng = random.Random(0)
        self._overrides: dict[str, _Override] = {}
        self._after: dict[str, list[_After]] = {}
        self._connections: set[socket.socket] = set()
        self._upstream = httpx.Client(timeout=UPSTREAM_TIMEOUT_SECONDS)
        self._server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SERVE_POLL_SECONDS,), name="rpc-fault-proxy", daemon=True
        )
        self.reset_counters()
        plan = plan or FaultPlan()
        self.queue_faults(*plan.queued)
        self.limit_log_range(plan.max_log_blocks, style=plan.log_range_style)
        self.random_faults(plan.failure_rate, seed=plan.seed, kinds=plan.kinds)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def faults_injected(self) -> int:
        with self._lock:
            return sum(self.faults.values())

    # -- lifecycle --

    def start(self) -> RpcFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers stalled on SLOW faults
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._upstream.close()

    def __enter__(self) -> RpcFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming faults --

    def queue_faults(self, *faults: Fault) -> None:
        """The next len(faults) HTTP requests get these faults, in order."""
        with self._lock:
            self._queued.extend(faults)

    def limit_log_range(self, max_blocks: int | None, *, style: str = "results") -> None:
        """Refuse eth_getLogs spanning more than `max_blocks` blocks, the way provider `style` does."""
        if style not in LOG_RANGE_STYLES:
            raise ValueError(f"unknown log range style {style!r}")
        with self._lock:
            self._max_log_blocks = max_blocks
            self._log_range_style = style

    def truncate_logs(self, max_results: int | None) -> None:
        """Answer eth_getLogs with at most the first `max_results` logs, without an error (as some providers do)."""
        with self._lock:
            self._max_log_results = max_results

    def stall_log_range(self, max_blocks: int | None) -> None:
        """Stall eth_getLogs over more than `max_blocks` blocks like SLOW: a query too heavy to answer in time."""
        with self._lock:
            self._stall_log_blocks = max_blocks

    def random_faults(self, rate: float, *, seed: int, kinds: Sequence[Fault] = MIXED_FAULTS) -> None:
        """Fail a fraction `rate` of requests with faults drawn from `kinds`, reproducibly for a given seed."""
        with self._lock:
            self._random_rate = rate
            self._random_kinds = tuple(kinds)
            self._rng = random.Random(seed)

    def override(
        self, method: str, *, fault: Fault | None = None, result: Any = _UNSET, times: int | None = None
    ) -> None:
        """Answer (non-batch) requests for `method` with `fault`, or with `result`, instead of the node.

        `times` limits it to the next `times` such requests; by default it lasts until
        clear_overrides() or clear_faults(). `result=None` is how a lagging node answers for a
        transaction it has not seen (eth_getTransactionReceipt, eth_getTransactionByHash).
        """
        if (fault is None) == (result is _UNSET):
            raise ValueError("give either fault or result")
        with self._lock:
            self._overrides[method] = _Override(fault, None if result is _UNSET else result, times)

    def after(
        self, method: str, hook: AfterHook, *, when: Callable[[Any], bool] | None = None, times: int | None = 1
    ) -> None:
        """Run `hook(request, response)` after a (non-batch) `method` request was answered by the node,
        before the answer goes back: the client's next request sees what the hook did (mined a
        block, reverted a snapshot). `when(result)` filters on the node's result; `times=None`
        keeps the hook until clear_overrides()."""
        with self._lock:
            self._after.setdefault(method, []).append(_After(hook, when, times))

    def clear_overrides(self) -> None:
        with self._lock:
            self._overrides.clear()
            self._after.clear()

    def clear_faults(self) -> None:
        self.clear_overrides()
        with self._lock:
            self._queued.clear()
            self._max_log_blocks = None
            self._max_log_results = None
            self._stall_log_blocks = None
            self._random_rate = 0.0
        self.reject_batches = False
        self.hold_seconds = 0.0

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0  # HTTP requests received
            self.forwarded = 0  # HTTP requests passed to the upstream node
            self.faults = Counter[str]()  # injected faults by kind
            self.methods = Counter[str]()  # JSON-RPC methods received (batch items counted one by one)
            self.in_flight = 0
            self.max_in_flight = 0
            self.log_spans: list[int] = []  # block spans of the eth_getLogs requests received, in order

    # -- request handling (called from handler threads) --

    def _next_fault(self, payload: Any) -> Fault | None:
        with self._lock:
            self.requests += 1
            for request in payload if isinstance(payload, list) else [payload]:
                self.methods[request.get("method", "?") if isinstance(request, dict) else "?"] += 1
            if self._queued:
                return self._queued.pop(0)
            if self._random_rate and self._rng.random() < self._random_rate:
                return self._rng.choice(self._random_kinds)
            return None

    def _record_log_spans(self, payload: Any) -> None:
        with self._lock:
            self.log_spans.extend(span for span in map(_log_span, _requests_of(payload)) if span is not None)

    def _stalls_log_query(self, payload: Any) -> bool:
        with self._lock:
            limit = self._stall_log_blocks
        span = _log_span(payload) if isinstance(payload, dict) else None
        if limit is None or span is None or span <= limit:
            return False
        with self._lock:
            self.faults["stall_logs"] += 1
        return True

    def _truncated(self, payload: Any, content: bytes) -> bytes:
        """`content` with every eth_getLogs result cut to the configured number of logs."""
        with self._lock:
            limit = self._max_log_results
        if limit is None:
            return content
        log_ids = {item.get("id") for item in _requests_of(payload) if item.get("method") == "eth_getLogs"}
        answer = json.loads(content)
        cut = 0
        for item in _requests_of(answer):
            result = item.get("result")
            if item.get("id") in log_ids and isinstance(result, list) and len(result) > limit:
                item["result"] = result[:limit]
                cut += 1
        if not cut:
            return content
        with self._lock:
            self.faults["truncate_logs"] += cut
        return json.dumps(answer).encode()

    def _override_for(self, payload: Any) -> _Override | None:
        if not isinstance(payload, dict):
            return None
        with self._lock:
            override = self._overrides.get(payload.get("method", ""))
            if override is None:
                return None
            if override.remaining is not None:
                override.remaining -= 1
                if override.remaining <= 0:
                    del self._overrides[payload["method"]]
            return override

    def _run_after_hooks(self, payload: Any, content: bytes) -> bytes:
        if not isinstance(payload, dict):
            return content
        with self._lock:
            waiting = self._after.get(payload.get("method", ""), [])
        if not waiting:
            return content
        document = json.loads(content)
        result = document.get("result") if isinstance(document, dict) else None
        for entry in list(waiting):
            if entry.when is not None and not entry.when(result):
                continue
            with self._lock:
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        waiting.remove(entry)
            replacement = entry.hook(payload, document)
            if replacement is not None:
                document = replacement
        return json.dumps(document).encode()

    def _log_range_refusal(self, payload: Any) -> dict[str, Any] | None:
        if not isinstance(payload, dict) or payload.get("method") != "eth_getLogs" or self._max_log_blocks is None:
            return None
        log_filter = payload["params"][0]
        from_block, to_block = int(log_filter["fromBlock"], 16), int(log_filter["toBlock"], 16)
        if to_block - from_block + 1 <= self._max_log_blocks:
            return None
        return log_range_error(self._log_range_style, from_block, self._max_log_blocks)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _count_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults[fault.kind] += 1

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        with self._lock:
            self.forwarded += 1
        response = self._upstream.post(self.upstream_url, content=body, headers={"content-type": "application/json"})
        return response.status_code, response.content


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _requests_of(payload: Any) -> list[dict[str, Any]]:
    return [item for item in (payload if isinstance(payload, list) else [payload]) if isinstance(item, dict)]


def _log_span(request: dict[str, Any]) -> int | None:
    """Blocks spanned by an eth_getLogs request with numeric bounds; None for anything else."""
    if request.get("method") != "eth_getLogs":
        return None
    log_filter = (request.get("params") or [{}])[0]
    try:
        return int(log_filter["toBlock"], 16) - int(log_filter["fromBlock"], 16) + 1
    except (KeyError, TypeError, ValueError):
        return None  # tags ("latest") or a blockHash filter


def _errors_for(payload: Any, error: dict[str, Any]) -> Any:
    if isinstance(payload, list):
        return [{"jsonrpc": "2.0", "id": item.get("id"), "error": error} for item in payload]
    return {"jsonrpc": "2.0", "id": payload.get("id"), "error": error}


def _handler_for(proxy: RpcFaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections as they do with real nodes
        # Headers and body go out in two writes; with Nagle's algorithm on, the client's delayed ACK
        # would add ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with proxy._lock:
                proxy._connections.add(self.connection)

        def finish(self) -> None:
            with proxy._lock:
                proxy._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            payload = json.loads(body)
            proxy._enter()
            try:
                self._answer(payload, body)
            except OSError:
                self.close_connection = True  # the client went away (it timed out); nothing to answer
            finally:
                proxy._leave()

        def _answer(self, payload: Any, body: bytes) -> None:
            proxy._record_log_spans(payload)
            fault = proxy._next_fault(payload)
            if fault is not None:
                proxy._count_fault(fault)
                self._inject(fault, payload)
                return
            if proxy.reject_batches and isinstance(payload, list):
                self._reply(
                    200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch not supported"}}
                )
                return
            override = proxy._override_for(payload)
            if override is not None:
                if override.fault is not None:
                    proxy._count_fault(override.fault)
                    self._inject(override.fault, payload)
                else:
                    self._reply(200, {"jsonrpc": "2.0", "id": payload.get("id"), "result": override.result})
                return
            refusal = proxy._log_range_refusal(payload)
            if refusal is not None:
                self._reply(200, _errors_for(payload, refusal))
                return
            if proxy._stalls_log_query(payload):
                self._inject(SLOW, payload)
                return
            if proxy.hold_seconds:
                proxy._stopping.wait(proxy.hold_seconds)
            status, content = proxy._forward(body)
            if status == HTTP_OK:
                content = proxy._truncated(payload, content)
                content = proxy._run_after_hooks(payload, content)
            self._send(status, content)

        def _inject(self, fault: Fault, payload: Any) -> None:
            if fault.kind == "http":
                self._reply(fault.status, {"error": f"injected HTTP {fault.status}"})
            elif fault.kind == "rpc_error":
                self._reply(200, _errors_for(payload, {"code": fault.code, "message": fault.message}))
            elif fault.kind == "drop":
                self._drop()
            elif fault.kind == "slow":
                proxy._stopping.wait(proxy.slow_seconds)
                self._drop()
            else:
                raise ValueError(f"unknown fault kind {fault.kind!r}")

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _reply(self, status: int, document: Any) -> None:
            self._send(status, json.dumps(document).encode())

        def _send(self, status: int, content: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    return Handler
