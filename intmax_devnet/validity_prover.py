"""A stand-in for the INTMAX2 validity prover's `GET /block-number` on the devnet (`INTMAX_VALIDITY_PROVER_URL`).

It runs as its own process (`python -m intmax_devnet.validity_prover`), started by `intmax devnet up`.
The real prover answers `GET {base}/block-number` -> 200 `{"blockNumber": <int>}`: the latest INTMAX
block it has synced. The stand-in follows the devnet Rollup: every request reads
`Rollup.getLatestBlockNumber()` on L2 (nothing cached, so it stays right when a test reverts the
chain) and answers that minus a settable lag, never below 0. A failed chain read answers 503 with a
JSON error: the block-sync monitor must see "unknown", never a made-up number.

Admin endpoints, for tests (not part of the real API):
- `POST /__lag {"lag": n}` (an integer >= 0; anything else 400), `GET /__lag`.
- `POST /__faults {"mode": "http"|"missing_field"|"delay", "count": n, "status"?: int, "delay_seconds"?: x}`:
  the next n `/block-number` requests misbehave. "http" answers `status` (default 503);
  "missing_field" answers 200 `{}` (a client must treat it as an error); "delay" sleeps then answers
  normally. `count: 0` clears; `GET /__faults` shows what is pending.
- `POST /__reset`: lag 0, faults cleared. `GET /__health`: readiness.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from web3 import HTTPProvider, Web3

from intmax_devnet.anvil import accept_termination_signals, free_port
from intmax_devnet.deployer import contract_at
from intmax_devnet.standin_http import (
    BadBody,
    JsonHandler,
    StandInServer,
    error_status,
    non_negative_count,
    non_negative_number,
)
from intmax_devnet.standin_process import StandInProcess, start_standin_process

BLOCK_NUMBER_PATH = "/block-number"
ROLLUP_CONTRACT = "Rollup"
RPC_TIMEOUT_SECONDS = 10.0
FAULT_MODES = ("http", "missing_field", "delay")
DEFAULT_FAULT_STATUS = 503


@dataclass
class Fault:
    mode: str
    count: int
    status: int = DEFAULT_FAULT_STATUS
    delay_seconds: float = 0.0


class ProverState:
    def __init__(self, l2_rpc_url: str, rollup_address: str) -> None:
        w3 = Web3(HTTPProvider(l2_rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS}))
        self.rollup = contract_at(w3, ROLLUP_CONTRACT, rollup_address)
        self.lock = threading.Lock()
        self.lag = 0
        self.fault: Fault | None = None

    def take_fault(self) -> Fault | None:
        with self.lock:
            if self.fault is None or self.fault.count <= 0:
                return None
            self.fault.count -= 1
            return Fault(**asdict(self.fault))

    def synced_block_number(self) -> int:
        """The Rollup's latest block minus the lag (>= 0); raises whatever the chain read raised."""
        latest = int(self.rollup.functions.getLatestBlockNumber().call())
        with self.lock:
            lag = self.lag
        return max(0, latest - lag)


class Handler(JsonHandler):
    server: StandInServer

    @property
    def state(self) -> ProverState:
        return self.server.state  # type: ignore[return-value]

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/__health":
            return self.send_json(200, {"ok": True})
        if path == "/__lag":
            return self.send_json(200, {"lag": self.state.lag})
        if path == "/__faults":
            fault = self.state.fault
            return self.send_json(200, asdict(fault) if fault and fault.count > 0 else {"mode": None, "count": 0})
        if path.rstrip("/") != BLOCK_NUMBER_PATH:
            return self.send_json(404, {"error": "not found"})
        fault = self.state.take_fault()
        if fault is not None and fault.mode == "http":
            return self.send_json(fault.status, {"error": "injected fault"})
        if fault is not None and fault.mode == "missing_field":
            return self.send_json(200, {})
        if fault is not None:
            time.sleep(fault.delay_seconds)
        try:
            block_number = self.state.synced_block_number()
        except Exception as error:
            # Name the failure, never the RPC URL (a real one carries its API key).
            return self.send_json(503, {"error": f"reading the Rollup failed ({type(error).__name__})"})
        return self.send_json(200, {"blockNumber": block_number})

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        try:
            body = self.read_json_object()
            if path == "/__lag":
                return self._set_lag(body)
            if path == "/__faults":
                return self._set_fault(body)
        except BadBody as error:
            return self.send_json(400, {"error": str(error)})
        if path == "/__reset":
            with self.state.lock:
                self.state.lag, self.state.fault = 0, None
            return self.send_json(200, {"lag": 0, "fault": None})
        return self.send_json(404, {"error": "not found"})

    def _set_lag(self, body: dict[str, Any]) -> None:
        lag = body.get("lag")
        if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
            raise BadBody("lag must be an integer >= 0")
        with self.state.lock:
            self.state.lag = lag
        return self.send_json(200, {"lag": lag})

    def _set_fault(self, body: dict[str, Any]) -> None:
        mode = body.get("mode")
        if mode not in FAULT_MODES:
            raise BadBody(f"mode must be one of {', '.join(FAULT_MODES)}")
        fault = Fault(
            mode=mode,
            count=non_negative_count(body) or 0,
            status=error_status(body, DEFAULT_FAULT_STATUS),
            delay_seconds=non_negative_number(body, "delay_seconds", 0.0),
        )
        with self.state.lock:
            self.state.fault = fault if fault.count > 0 else None
        return self.send_json(200, asdict(fault))


# --- the process, as `intmax devnet up` runs it ----------------------------------------------


class ValidityProverStandIn(StandInProcess):
    """The running validity prover stand-in; its URL is the INTMAX_VALIDITY_PROVER_URL."""


def start_standin(
    l2_rpc_url: str, rollup_address: str, port: int | None = None, *, log_path: Path | None = None
) -> ValidityProverStandIn:
    """Start the stand-in in its own process group, following the Rollup at `rollup_address` on L2."""
    port = port or free_port()
    args = ["--port", str(port), "--l2-rpc-url", l2_rpc_url, "--rollup", rollup_address]
    url = f"http://127.0.0.1:{port}"
    pid = start_standin_process(
        "validity prover", "intmax_devnet.validity_prover", args, f"{url}/__health", log_path=log_path
    )
    return ValidityProverStandIn(port=port, pid=pid, log_path=log_path)


def main(argv: list[str] | None = None) -> None:
    accept_termination_signals()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--l2-rpc-url", required=True)
    parser.add_argument("--rollup", required=True, help="Rollup contract address on L2")
    args = parser.parse_args(argv)
    StandInServer(args.port, Handler, ProverState(args.l2_rpc_url, args.rollup)).serve_forever()


if __name__ == "__main__":
    main()
