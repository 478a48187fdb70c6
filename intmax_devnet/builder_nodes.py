"""A stand-in for the simulated block builders' own HTTP servers: every builder's `GET /fee-info`, in one process.

It runs as its own process (`python -m intmax_devnet.builder_nodes`), started by `intmax devnet up`.
Builder number i (0..255, the account `accounts.builder(i)`) lives at the base URL
`{url}/builders/{i}`: the URL the simulator announces in its heartbeats, so the builder health
check calls `GET {url}/builders/{i}/fee-info`, the real protocol. A healthy builder answers

    200 {"version": "0.1.1", "blockBuilderAddress": <checksummed address>, "beneficiary": "0x<32 bytes>",
         "registrationFee": [{"token_index": 0, "amount": "2000000000000"}],
         "nonRegistrationFee": [{"token_index": 0, "amount": "1000000000000"}],
         "registrationCollateralFee": null, "nonRegistrationCollateralFee": null}

Any other path answers 404.

Admin endpoints, for tests and `intmax devnet builder <i> <behaviour>` (not part of the real API):
- `POST /__behaviour {"builder": i, "behaviour": b, "delay_seconds"?: x}` with b one of BEHAVIOURS:
  "healthy"; "old_version" (version 0.0.9); "fee_above_cap" (a nonRegistrationFee amount of
  2500000000001); "disallowed_token" (a fee in token index 3); "down" (the connection is closed
  without any HTTP answer: the client sees a connection error); "slow" (sleeps `delay_seconds`,
  default 6 s, past the client's 5 s timeout, then answers healthy; other requests are not held
  up); "error" (HTTP 500). Invalid input answers 400 naming the problem. `GET /__behaviour` lists
  the builders that are not healthy.
- `GET /__requests` -> `{"fee_info": {"<i>": count}}`: /fee-info requests received per builder
  (whatever the behaviour), so a test can check a client's retries.
- `POST /__reset`: every builder healthy, counters cleared. `GET /__health`: readiness.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from eth_hash.auto import keccak
from web3 import Web3

from intmax_devnet import accounts
from intmax_devnet.anvil import accept_termination_signals, free_port
from intmax_devnet.standin_http import BadBody, JsonHandler, StandInServer, non_negative_number
from intmax_devnet.standin_process import StandInProcess, start_standin_process

FEE_INFO_PATH = re.compile(r"^/builders/(?P<builder>\d{1,3})/fee-info/?$")
MAX_BUILDER = 255
BEHAVIOURS = ("healthy", "old_version", "fee_above_cap", "disallowed_token", "down", "slow", "error")
HEALTHY_VERSION = "0.1.1"
OLD_VERSION = "0.0.9"
REGISTRATION_FEE = "2000000000000"
NON_REGISTRATION_FEE = "1000000000000"
# One above the pipeline's default block_builder_max_fee_amount (2_500_000_000_000).
FEE_ABOVE_CAP = "2500000000001"
# The allowed fee tokens are 0 ETH, 1 ITX, 2 WBTC by default; 3 (USDC) is not among them.
DISALLOWED_TOKEN_INDEX = 3
# Longer than the health check's 5 s timeout (builder_fee_info_timeout_seconds).
DEFAULT_SLOW_SECONDS = 6.0
ADMIN_TIMEOUT_SECONDS = 10.0


def builder_base_url(url: str, builder: int) -> str:
    """Builder `builder`'s base URL on the stand-in at `url` (what its heartbeat announces)."""
    return f"{url}/builders/{builder}"


@cache
def _builder_identity(builder: int) -> tuple[str, str]:
    """(checksummed address, beneficiary): a fixed 32-byte INTMAX public key derived from the number."""
    address = Web3.to_checksum_address(accounts.builder(builder).address)
    beneficiary = "0x" + keccak(f"devnet builder beneficiary {builder}".encode()).hex()
    return address, beneficiary


def fee_info(builder: int, behaviour: str) -> dict[str, Any]:
    """The /fee-info body of `builder` under `behaviour` (one of the body-shaping ones, or healthy)."""
    address, beneficiary = _builder_identity(builder)
    non_registration = [{"token_index": 0, "amount": NON_REGISTRATION_FEE}]
    if behaviour == "fee_above_cap":
        non_registration = [{"token_index": 0, "amount": FEE_ABOVE_CAP}]
    if behaviour == "disallowed_token":
        non_registration.append({"token_index": DISALLOWED_TOKEN_INDEX, "amount": NON_REGISTRATION_FEE})
    return {
        "version": OLD_VERSION if behaviour == "old_version" else HEALTHY_VERSION,
        "blockBuilderAddress": address,
        "beneficiary": beneficiary,
        "registrationFee": [{"token_index": 0, "amount": REGISTRATION_FEE}],
        "nonRegistrationFee": non_registration,
        "registrationCollateralFee": None,
        "nonRegistrationCollateralFee": None,
    }


@dataclass(frozen=True)
class Behaviour:
    name: str
    delay_seconds: float = DEFAULT_SLOW_SECONDS


class NodesState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.behaviours: dict[int, Behaviour] = {}  # only builders that are not healthy
        self.requests: Counter[int] = Counter()

    def received(self, builder: int) -> Behaviour:
        with self.lock:
            self.requests[builder] += 1
            return self.behaviours.get(builder, Behaviour("healthy"))

    def listing(self) -> dict[str, Any]:
        with self.lock:
            return {str(i): {"behaviour": b.name, "delay_seconds": b.delay_seconds} for i, b in self.behaviours.items()}


class Handler(JsonHandler):
    server: StandInServer

    @property
    def state(self) -> NodesState:
        return self.server.state  # type: ignore[return-value]

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/__health":
            return self.send_json(200, {"ok": True})
        if path == "/__behaviour":
            return self.send_json(200, {"behaviours": self.state.listing()})
        if path == "/__requests":
            with self.state.lock:
                counts = {str(i): n for i, n in sorted(self.state.requests.items())}
            return self.send_json(200, {"fee_info": counts})
        match = FEE_INFO_PATH.match(path)
        if match is None or int(match["builder"]) > MAX_BUILDER:
            return self.send_json(404, {"error": "not found"})
        builder = int(match["builder"])
        behaviour = self.state.received(builder)
        if behaviour.name == "down":
            # No status line at all: the client's connection ends as if the builder's process died.
            self.close_connection = True
            return None
        if behaviour.name == "error":
            return self.send_json(500, {"error": "internal server error"})
        if behaviour.name == "slow":
            time.sleep(behaviour.delay_seconds)
            return self.send_json(200, fee_info(builder, "healthy"))
        return self.send_json(200, fee_info(builder, behaviour.name))

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        try:
            body = self.read_json_object()
            if path == "/__behaviour":
                return self._set_behaviour(body)
        except BadBody as error:
            return self.send_json(400, {"error": str(error)})
        if path == "/__reset":
            with self.state.lock:
                self.state.behaviours.clear()
                self.state.requests.clear()
            return self.send_json(200, {"reset": True})
        return self.send_json(404, {"error": "not found"})

    def _set_behaviour(self, body: dict[str, Any]) -> None:
        builder, name = body.get("builder"), body.get("behaviour")
        if isinstance(builder, bool) or not isinstance(builder, int) or not 0 <= builder <= MAX_BUILDER:
            raise BadBody(f"builder must be an integer 0..{MAX_BUILDER}")
        if name not in BEHAVIOURS:
            raise BadBody(f"behaviour must be one of {', '.join(BEHAVIOURS)}")
        behaviour = Behaviour(name, non_negative_number(body, "delay_seconds", DEFAULT_SLOW_SECONDS))
        with self.state.lock:
            if name == "healthy":
                self.state.behaviours.pop(builder, None)
            else:
                self.state.behaviours[builder] = behaviour
        return self.send_json(200, {"builder": builder, "behaviour": name, "delay_seconds": behaviour.delay_seconds})


def set_builder_behaviour(url: str, builder: int, behaviour: str, delay_seconds: float | None = None) -> None:
    """Make builder `builder` of the stand-in at `url` behave as `behaviour`; ValueError when refused."""
    body: dict[str, Any] = {"builder": builder, "behaviour": behaviour}
    if delay_seconds is not None:
        body["delay_seconds"] = delay_seconds
    response = httpx.post(f"{url}/__behaviour", json=body, timeout=ADMIN_TIMEOUT_SECONDS)
    if response.status_code == 400:
        raise ValueError(response.json().get("error", "refused"))
    response.raise_for_status()


# --- the process, as `intmax devnet up` runs it ----------------------------------------------


class BuilderNodesStandIn(StandInProcess):
    """The running builder nodes stand-in; `builder_url(i)` is builder i's base URL."""

    def builder_url(self, builder: int) -> str:
        return builder_base_url(self.url, builder)


def start_standin(port: int | None = None, *, log_path: Path | None = None) -> BuilderNodesStandIn:
    """Start the stand-in in its own process group and wait until it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    pid = start_standin_process(
        "builder nodes", "intmax_devnet.builder_nodes", ["--port", str(port)], f"{url}/__health", log_path=log_path
    )
    return BuilderNodesStandIn(port=port, pid=pid, log_path=log_path)


def main(argv: list[str] | None = None) -> None:
    accept_termination_signals()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    StandInServer(args.port, Handler, NodesState()).serve_forever()


if __name__ == "__main__":
    main()
