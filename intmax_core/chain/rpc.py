"""JSON-RPC over HTTP for one chain: connection reuse, failover across URLs, retries, a concurrency cap.

`call` returns the node's raw `result` JSON (hex strings, no web3 formatting). Transient failures
(timeouts, connection errors, HTTP 429/5xx, JSON-RPC errors that `rpc_errors.is_transient` accepts)
are retried with backoff, each on the first URL that is not cooling down; anything else raises at
once. No URL ever reaches an exception or a log line: URLs carry provider API keys.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson

from intmax_core.chain.endpoints import DEFAULT_COOLDOWN_SECONDS, EndpointPool
from intmax_core.chain.retry import (
    DEFAULT_BACKOFF_BASE_SECONDS,
    DEFAULT_BACKOFF_MAX_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    BackoffPolicy,
)
from intmax_core.chain.rpc_errors import RpcError, RpcTimeout, RpcUnavailable, is_timeout_message, is_transient
from intmax_core.chain.url_redaction import redact_in_httpx_logs

__all__ = ["RpcCall", "RpcClient", "RpcError", "RpcStats", "RpcTimeout", "RpcUnavailable"]

log = logging.getLogger(__name__)

# Per request. Generous because an eth_getLogs over a few thousand blocks can take seconds on a
# loaded provider; the log fetcher shrinks its range on timeouts instead of waiting longer.
DEFAULT_TIMEOUT_SECONDS = 10.0
# Requests in flight per client (per chain) across all threads. Indexers in the field use 5-25
# (ethereum-etl 5, SQD 10, Ponder 25); 8 stays under free-tier provider limits.
DEFAULT_MAX_IN_FLIGHT = 8
# Calls per JSON-RPC batch: bor (Polygon) rejects more than 100, Alchemy more than 1000.
DEFAULT_MAX_BATCH_SIZE = 100
# Part of an error message kept in retry descriptions; node messages can be long (revert data, HTML pages).
MAX_DESCRIBED_MESSAGE_CHARS = 200
HTTP_OK = 200
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500
HTTP_SCHEMES = ("http", "https")
# How nodes and gateways refuse a batch as such (bad request, method not allowed, payload too large).
# Other 4xx (401, 403, 404) are a misconfigured URL, not a batch problem: those fail over instead.
BATCH_REJECTION_STATUSES = frozenset({400, 405, 413})

RpcCall = tuple[str, list[Any]]
T = TypeVar("T")


@dataclass
class RpcStats:
    """Counters of one client, for run metadata. `requests` counts HTTP requests (a batch is one)."""

    requests: int = 0
    retries: int = 0
    transient_failures: int = 0
    failovers: int = 0
    batch_fallbacks: int = 0

    def as_metadata(self) -> dict[str, int]:
        return asdict(self)


class _TransientFailure(Exception):
    """One attempt failed in a way another attempt may not. `description` is URL-free by construction.

    `timeout` marks a request that reached the node and got no answer in time (a read timeout, or
    the node's own "request timed out" error): the one failure a smaller request can avoid. A
    connection that could not be opened in time is an endpoint failure, not a timeout in this sense.
    """

    def __init__(self, description: str, *, timeout: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.timeout = timeout


class _BatchRejected(Exception):
    """The endpoint does not accept JSON-RPC batches (it answered a batch with one object or a 4xx)."""


class RpcClient:
    """A chain's JSON-RPC endpoints, safe to share between threads.

    URLs are tried in their configured order; a URL that fails transiently is skipped for
    `cooldown_seconds`, then preferred again (a timeout under `retry_timeouts=False` is the
    request's failure, not the URL's, and cools nothing down). Endpoints appear in messages as
    "url #1", "url #2".
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        name: str = "chain",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError(f"no RPC URL configured for {name}")
        for index, url in enumerate(urls):
            if urlsplit(url).scheme not in HTTP_SCHEMES:
                raise ValueError(f"{name} {EndpointPool.label(index)}: only http(s) RPC URLs are supported")
        if max_in_flight < 1 or max_batch_size < 1:
            raise ValueError("max_in_flight and max_batch_size must be at least 1")
        self.name = name
        self.policy = BackoffPolicy(max_attempts, backoff_base, backoff_max)
        self.max_batch_size = max_batch_size
        self.stats = RpcStats()
        self._urls = list(urls)  # private: never printed, never put into messages
        for index, url in enumerate(self._urls):
            redact_in_httpx_logs(url, f"{name} {EndpointPool.label(index)}")
        self._endpoints = EndpointPool(len(self._urls), cooldown_seconds)
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._stats_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()
        self._batch_supported = True
        limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
        # `transport` replaces the network (tests inject httpx.MockTransport to script failures).
        self._http = httpx.Client(timeout=timeout, limits=limits, transport=transport)

    def __repr__(self) -> str:
        return f"RpcClient(name={self.name!r}, endpoints={len(self._urls)})"

    @property
    def endpoint_count(self) -> int:
        return len(self._urls)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public calls -------------------------------------------------------------------------------

    def call(self, method: str, params: list[Any] | None = None, *, retry_timeouts: bool = True) -> Any:
        """The raw `result` of `method`. Raises RpcError (not retried) or RpcUnavailable (retries exhausted).

        With `retry_timeouts=False` a timeout raises RpcTimeout at once: for callers that react to
        a timeout by asking for less (the log fetcher), since retrying the same request would only
        time out again.
        """
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}

        def attempt(index: int) -> Any:
            status, body = self._post(index, payload)
            if isinstance(body, dict) and body.get("error") is not None:
                self._raise_error(index, method, body["error"])
            if status != HTTP_OK or not isinstance(body, dict) or "result" not in body:
                raise _TransientFailure(f"{self._endpoints.label(index)}: HTTP {status} without a JSON-RPC result")
            return body["result"]

        return self._with_retries(method, attempt, retry_timeouts=retry_timeouts)

    def batch(self, calls: Sequence[RpcCall]) -> list[Any]:
        """The raw results of `calls`, in order, sent as JSON-RPC batches of at most `max_batch_size`.

        Falls back to one call at a time (for the rest of this client's life) when the node rejects
        batches. Raises like `call`; a permanent error of any one call raises for the whole batch.
        """
        results: list[Any] = []
        for start in range(0, len(calls), self.max_batch_size):
            chunk = calls[start : start + self.max_batch_size]
            if self._batch_supported:
                try:
                    results.extend(self._batch_chunk(chunk))
                    continue
                except _BatchRejected:
                    log.warning("%s rejects JSON-RPC batches; sending calls one by one", self.name)
                    self._batch_supported = False
                    self._count(batch_fallbacks=1)
            results.extend(self.call(method, params) for method, params in chunk)
        return results

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    # -- internals ----------------------------------------------------------------------------------

    def _batch_chunk(self, chunk: Sequence[RpcCall]) -> list[Any]:
        ids = [next(self._ids) for _ in chunk]
        position = {request_id: offset for offset, request_id in enumerate(ids)}
        results: dict[int, Any] = {}
        what = f"batch of {len(chunk)} ({chunk[0][0]}...)" if chunk else "empty batch"

        def attempt(index: int) -> list[Any]:
            # Only calls still missing are sent again: a node may fail some items of a batch (per-item
            # rate limits) and answer the others.
            pending = [request_id for request_id in ids if request_id not in results]
            payload = [
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": chunk[position[request_id]][0],
                    "params": chunk[position[request_id]][1],
                }
                for request_id in pending
            ]
            status, body = self._post(index, payload)
            if not isinstance(body, list):
                if isinstance(body, dict) and body.get("error") is not None:
                    error = body["error"]
                    if is_transient(error.get("code"), str(error.get("message", ""))):
                        self._raise_error(index, what, error)
                if status in BATCH_REJECTION_STATUSES or (status == HTTP_OK and isinstance(body, dict)):
                    raise _BatchRejected
                raise _TransientFailure(f"{self._endpoints.label(index)}: HTTP {status} without a batch response")
            last_transient: dict | None = None
            for item in body:
                request_id = item.get("id") if isinstance(item, dict) else None
                if request_id not in position or request_id in results:
                    continue
                if item.get("error") is not None:
                    error = item["error"]
                    if not is_transient(error.get("code"), str(error.get("message", ""))):
                        self._raise_error(index, chunk[position[request_id]][0], error)
                    last_transient = error
                elif "result" in item:
                    results[request_id] = item["result"]
            missing = len(ids) - len(results)
            if missing:
                detail = f"; last error {self._describe_error(last_transient)}" if last_transient else ""
                timeout = bool(last_transient) and is_timeout_message(str(last_transient.get("message", "")))
                raise _TransientFailure(
                    f"{self._endpoints.label(index)}: {missing} of {len(ids)} batch items unanswered{detail}",
                    timeout=timeout,
                )
            return [results[request_id] for request_id in ids]

        return self._with_retries(what, attempt, retry_timeouts=True)

    def _with_retries(self, what: str, attempt: Callable[[int], T], *, retry_timeouts: bool) -> T:
        failures: list[str] = []
        gave_up_on_timeout = False
        previous: int | None = None
        for retry in range(self.policy.max_attempts):
            index = self._endpoints.pick()
            if retry:
                self._count(retries=1, failovers=int(index != previous))
            previous = index
            try:
                result = attempt(index)
            except _TransientFailure as failure:
                self._count(transient_failures=1)
                failures.append(failure.description)
                log.info("%s %s failed transiently: %s", self.name, what, failure.description)
                if failure.timeout and not retry_timeouts:
                    # The caller reads this timeout as "too big a request" and asks for less. The URL
                    # is not cooled down: that would send every following request (the smaller retry
                    # included) to a backup URL for cooldown_seconds, for a failure that is the
                    # request's, not the endpoint's. An endpoint that really hangs still gets cooled
                    # down once the caller is at its smallest request and retries timeouts.
                    gave_up_on_timeout = True
                    break
                self._endpoints.mark_failed(index)
                if retry + 1 < self.policy.max_attempts and not self._endpoints.is_available(self._endpoints.pick()):
                    # Every URL failed recently: wait before the next try. A fresh URL is tried at once.
                    time.sleep(self.policy.delay(retry, self._rng))
                continue
            self._endpoints.mark_ok(index)
            return result
        # Raised outside the except block on purpose, so the httpx exception (whose request carries
        # the URL) is not chained as __context__ into tracebacks and error reporters.
        summary = f"{self.name} {what}: " + "; ".join(failures)
        if gave_up_on_timeout:
            raise RpcTimeout(summary)
        log.warning("%s %s: giving up after %d attempts", self.name, what, len(failures))
        raise RpcUnavailable(f"{summary} (gave up after {len(failures)} attempts)")

    def _post(self, index: int, payload: Any) -> tuple[int, Any]:
        """One HTTP round trip: (status, parsed JSON body). Raises _TransientFailure for transport trouble."""
        label = self._endpoints.label(index)
        self._count(requests=1)
        # Only the exception's type is kept: httpx messages and requests can contain the URL.
        try:
            with self._slots:
                response = self._http.post(self._urls[index], json=payload)
        except httpx.ReadTimeout as error:
            # Sent, but the node did not answer in time: the work the request asked for may be the cause.
            raise _TransientFailure(f"{label}: {type(error).__name__}", timeout=True) from None
        except httpx.HTTPError as error:
            raise _TransientFailure(f"{label}: {type(error).__name__}") from None
        status = response.status_code
        if status == HTTP_TOO_MANY_REQUESTS or status >= HTTP_SERVER_ERROR:
            raise _TransientFailure(f"{label}: HTTP {status}")
        try:
            # orjson: a 10,000-log eth_getLogs answer parses in a quarter of the standard library's
            # time, and parsing was the indexer's largest cost per chunk (benchmarks/indexing.py).
            return status, orjson.loads(response.content)
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            if status == HTTP_OK:
                raise _TransientFailure(f"{label}: HTTP {status} with a body that is not JSON") from None
            return status, None  # a 4xx page: what it means depends on the request (see call and batch)

    def _raise_error(self, index: int, method: str, error: Any) -> NoReturn:
        if not isinstance(error, dict):
            raise _TransientFailure(f"{self._endpoints.label(index)}: malformed JSON-RPC error")
        code = error.get("code")
        message = str(error.get("message", ""))
        if is_transient(code, message):
            raise _TransientFailure(
                f"{self._endpoints.label(index)}: {self._describe_error(error)}", timeout=is_timeout_message(message)
            )
        raise RpcError(method, code, message, error.get("data"))

    @staticmethod
    def _describe_error(error: dict) -> str:
        return f"error {error.get('code')} {str(error.get('message', ''))[:MAX_DESCRIBED_MESSAGE_CHARS]!r}"

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for field, increment in increments.items():
                setattr(self.stats, field, getattr(self.stats, field) + increment)
