"""JSON-RPC over HTTP, with one connection pool per client and failover across several URLs."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

DEFAULT_TIMEOUT_SECONDS = 10.0


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error (it was reached; failing over would not help)."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class RpcUnavailable(RuntimeError):
    """No URL of the chain could be reached."""


class RpcClient:
    """A chain's JSON-RPC endpoints. URLs are tried in order; a transport failure moves to the next."""

    def __init__(self, urls: list[str], *, name: str = "chain", timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        if not urls:
            raise ValueError(f"no RPC URL configured for {name}")
        self.urls = list(urls)
        self.name = name
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        failures = []
        for index, url in enumerate(self.urls):
            try:
                response = self._http.post(url, json=payload)
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as error:
                # URLs may carry provider keys: name the endpoint by position only.
                failures.append(f"url #{index + 1}: {type(error).__name__}")
                continue
            if "error" in body:
                err = body["error"]
                raise RpcError(method, err.get("code"), err.get("message", ""), err.get("data"))
            return body["result"]
        raise RpcUnavailable(f"{self.name} {method}: every RPC URL failed ({'; '.join(failures)})")

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)
