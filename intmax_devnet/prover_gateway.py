"""A stand-in for the INTMAX2 prover gateway on the devnet (`ZKP_PROVER_URL`), over real HTTP.

It runs as its own process (`python -m intmax_devnet.prover_gateway`), started by `intmax devnet up`
like the CoinGecko stand-in, and speaks the three protocols the withdrawal aggregator uses:

- chain proofs: `POST /aggregator-prover/proof/withdrawal {id, singleWithdrawalProof, prevWithdrawalProof}`
  -> `{"success": true, "message": "withdrawal proof is generating"}`;
  `GET /aggregator-prover/proof/withdrawal/{id}` -> `{"success", "proof": null | {"proof", "withdrawal"},
  "errorMessage"}` (pending: success true, proof null). The job checks the single-withdrawal proof
  and the previous chain proof and returns a chain proof of the chained hash so far. Results are
  cached under the id for 600 s, set-if-absent: re-posting an id with a cached (or running) proof
  starts nothing and later polls return the first proof, whatever `prevWithdrawalProof` said (the
  original's id-collision defect). A failed job caches nothing: re-posting its id starts afresh.
- wrapper proofs: `POST /aggregator-prover/proof/wrapper/withdrawal {id, withdrawalAggregator, withdrawalProof}`;
  `GET .../wrapper/withdrawal/{id}` -> `{"success", "proof": JSON string | null, "errorMessage"}`, and
  while pending `success: false, proof: null, errorMessage: null` (as the original). Re-posting an id
  replaces its job.
- gnark proofs: `POST /withdrawal-gnark-server/start-proof {proof, verifierData}` -> `{"jobId": "<uuid>"}`;
  `GET /withdrawal-gnark-server/get-proof?jobId=` -> `{"success", "proof": null | {"publicInputs":
  [circuitDigest, pisHash] as decimals, "proof": hex without 0x}, "errorMessage"}` (pending: success
  true, proof null). The proof is the devnet prover key's signature that DevVerifier accepts
  (intmax_devnet.prover_gateway_proofs). `verifierData` must be a JSON string with
  `constants_sigmas_cap` and `circuit_digest`; a circuit_digest other than "0" or the devnet's fails the job.

Unknown ids answer `success: false` with an errorMessage. Malformed requests answer 400.

Admin endpoints, for tests:
- `POST /__behaviour {"stage": "chain"|"wrapper"|"gnark"|"all", "latency_seconds": x, "fail": null|
  "error_message"|"http_500"|"never_finish", "count": n}`: jobs of the stage stay pending for x
  seconds (default 0). `fail` applies to the next n (default 1) jobs of the stage ("error_message":
  the job fails with an errorMessage; "never_finish": it stays pending forever) or, for "http_500",
  to the next n requests (POST or GET) of the stage, which answer HTTP 500. `GET /__behaviour` shows it.
- `POST /__reset`: forget every job, cached proof, behaviour and logged request.
- `GET /__requests?stage=chain|wrapper|gnark&method=POST|GET`: every API request so far, each
  `{"stage", "method", "id", "status", "started", "has_prev_withdrawal_proof", "at"}` (`started`:
  whether a POST started a job; false for a chain id that was already cached or running).
- `GET /__health`: readiness.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from intmax_devnet.anvil import accept_termination_signals, free_port
from intmax_devnet.prover_gateway_state import (
    CHAIN_CACHE_TTL_SECONDS,
    FAIL_MODES,
    STAGES,
    Behaviour,
    GatewayState,
)
from intmax_devnet.prover_key import DEVNET_WITHDRAWAL_CIRCUIT_DIGEST
from intmax_devnet.standin_process import StandInProcess, start_standin_process

CHAIN_PATH = "/aggregator-prover/proof/withdrawal"
WRAPPER_PATH = "/aggregator-prover/proof/wrapper/withdrawal"
GNARK_START_PATH = "/withdrawal-gnark-server/start-proof"
GNARK_GET_PATH = "/withdrawal-gnark-server/get-proof"
GENERATING_MESSAGE = "withdrawal proof is generating"
WRAPPER_GENERATING_MESSAGE = "wrapper proof is generating"
# circuit_digest values of verifierData that match the devnet circuit ("0" is the settings' default).
ACCEPTED_CIRCUIT_DIGESTS = ("0", str(DEVNET_WITHDRAWAL_CIRCUIT_DIGEST))


class BadRequest(ValueError):
    pass


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or (isinstance(value, str) and not value):
        raise BadRequest(f"{name} must be a non-empty {kind.__name__}")
    return value


def _base64(body: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(_field(body, name, str), validate=True)
    except binascii.Error:
        raise BadRequest(f"{name} must be base64") from None


def _verifier_data_error(verifier_data: str) -> str | None:
    """None if the verifier data fits the devnet circuit, else why the job fails; BadRequest if malformed."""
    try:
        data = json.loads(verifier_data)
    except ValueError:
        raise BadRequest("verifierData must be a JSON string") from None
    if not isinstance(data, dict) or not {"constants_sigmas_cap", "circuit_digest"} <= data.keys():
        raise BadRequest("verifierData must hold constants_sigmas_cap and circuit_digest")
    if str(data["circuit_digest"]) not in ACCEPTED_CIRCUIT_DIGESTS:
        return "verifierData.circuit_digest is not the devnet withdrawal circuit's"
    return None


class Handler(BaseHTTPRequestHandler):
    server: ProverGatewayServer
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
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(raw)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise BadRequest("body must be JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    def _answer(self, stage: str, method: str, request_id: str | None, status: int, body: object, **extra: Any) -> None:
        self.server.state.log(
            {"stage": stage, "method": method, "id": request_id, "status": status, **extra},
        )
        self._send(status, body)

    def _stage_of(self, path: str) -> str | None:
        if path == CHAIN_PATH or path.startswith(CHAIN_PATH + "/"):
            return "chain"
        if path == WRAPPER_PATH or path.startswith(WRAPPER_PATH + "/"):
            return "wrapper"
        if path in (GNARK_START_PATH, GNARK_GET_PATH):
            return "gnark"
        return None

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        try:
            body = self._body()
            if path.startswith("/__"):
                return self._admin_post(path, body)
            stage = self._stage_of(path)
            if stage is None or path not in (CHAIN_PATH, WRAPPER_PATH, GNARK_START_PATH):
                return self._send(404, {"success": False, "errorMessage": "not found"})
            if self.server.state.take_http_fault(stage):
                return self._answer(stage, "POST", body.get("id"), 500, {"success": False, "message": "injected 500"})
            if stage == "chain":
                return self._post_chain(body)
            if stage == "wrapper":
                return self._post_wrapper(body)
            return self._post_gnark(body)
        except BadRequest as bad:
            return self._send(400, {"success": False, "errorMessage": str(bad)})

    def _post_chain(self, body: dict[str, Any]) -> None:
        request_id = _field(body, "id", str)
        single = _base64(body, "singleWithdrawalProof")
        prev = _base64(body, "prevWithdrawalProof") if body.get("prevWithdrawalProof") is not None else None
        started = self.server.state.post_chain(request_id, single, prev)
        reply = {"success": True, "message": GENERATING_MESSAGE}
        self._answer("chain", "POST", request_id, 200, reply, started=started, has_prev_withdrawal_proof=bool(prev))

    def _post_wrapper(self, body: dict[str, Any]) -> None:
        request_id = _field(body, "id", str)
        aggregator = _field(body, "withdrawalAggregator", str)
        if len(aggregator) != 42 or not aggregator.startswith("0x"):
            raise BadRequest("withdrawalAggregator must be a 0x address")
        try:
            int(aggregator, 16)
        except ValueError:
            raise BadRequest("withdrawalAggregator must be a 0x address") from None
        chain_proof = _base64(body, "withdrawalProof")
        self.server.state.post_wrapper(request_id, aggregator, chain_proof)
        reply = {"success": True, "message": WRAPPER_GENERATING_MESSAGE}
        self._answer("wrapper", "POST", request_id, 200, reply, started=True)

    def _post_gnark(self, body: dict[str, Any]) -> None:
        wrapper = _field(body, "proof", str)
        verifier_error = _verifier_data_error(_field(body, "verifierData", str))
        job_id = self.server.state.post_gnark(wrapper, verifier_error)
        self._answer("gnark", "POST", job_id, 200, {"jobId": job_id}, started=True)

    def _admin_post(self, path: str, body: dict[str, Any]) -> None:
        state = self.server.state
        if path == "/__reset":
            state.reset()
            return self._send(200, {"reset": True})
        if path == "/__behaviour":
            stage, fail = body.get("stage", "all"), body.get("fail")
            latency, count = body.get("latency_seconds", 0.0), body.get("count", 1)
            if stage not in (*STAGES, "all"):
                raise BadRequest(f"stage must be one of {', '.join(STAGES)}, all")
            if fail is not None and fail not in FAIL_MODES:
                raise BadRequest(f"fail must be null or one of {', '.join(FAIL_MODES)}")
            if not isinstance(latency, int | float) or latency < 0 or not isinstance(count, int) or count < 0:
                raise BadRequest("latency_seconds must be a number >= 0 and count an integer >= 0")
            state.set_behaviour(stage, Behaviour(float(latency), fail, count if fail is not None else 0))
            return self._send(200, state.behaviours())
        return self._send(404, {"success": False, "errorMessage": "not found"})

    def do_GET(self) -> None:
        url = urlparse(self.path)
        state = self.server.state
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path == "/__health":
            return self._send(200, {"ok": True})
        if url.path == "/__behaviour":
            return self._send(200, state.behaviours())
        if url.path == "/__requests":
            return self._send(200, {"requests": state.logged(query.get("stage"), query.get("method"))})
        stage = self._stage_of(url.path)
        if stage is None or url.path == GNARK_START_PATH:
            return self._send(404, {"success": False, "errorMessage": "not found"})
        if stage == "gnark":
            request_id = query.get("jobId")
            if not request_id:
                return self._send(400, {"success": False, "errorMessage": "jobId is required"})
        else:
            prefix = CHAIN_PATH if stage == "chain" else WRAPPER_PATH
            request_id = unquote(url.path.removeprefix(prefix + "/"))
            if not request_id or "/" in request_id:
                return self._send(404, {"success": False, "errorMessage": "not found"})
        if state.take_http_fault(stage):
            return self._answer(stage, "GET", request_id, 500, {"success": False, "message": "injected 500"})
        getter = {"chain": state.get_chain, "wrapper": state.get_wrapper, "gnark": state.get_gnark}[stage]
        return self._answer(stage, "GET", request_id, 200, getter(request_id))


class ProverGatewayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: GatewayState) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = state


# --- the process, as `intmax devnet up` runs it ----------------------------------------------


class ProverGatewayStandIn(StandInProcess):
    """The running prover gateway stand-in; its URL is the ZKP_PROVER_URL (the API paths hang off it)."""


def start_standin(
    port: int | None = None,
    *,
    log_path: Path | None = None,
    chain_cache_ttl_seconds: float = CHAIN_CACHE_TTL_SECONDS,
) -> ProverGatewayStandIn:
    """Start the stand-in in its own process group and wait until it answers."""
    port = port or free_port()
    args = ["--port", str(port), "--chain-cache-ttl-seconds", str(chain_cache_ttl_seconds)]
    url = f"http://127.0.0.1:{port}"
    pid = start_standin_process(
        "prover gateway", "intmax_devnet.prover_gateway", args, f"{url}/__health", log_path=log_path
    )
    return ProverGatewayStandIn(port=port, pid=pid, log_path=log_path)


def main(argv: list[str] | None = None) -> None:
    accept_termination_signals()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chain-cache-ttl-seconds", type=float, default=CHAIN_CACHE_TTL_SECONDS)
    args = parser.parse_args(argv)
    server = ProverGatewayServer(args.port, GatewayState(args.chain_cache_ttl_seconds))
    server.serve_forever()


if __name__ == "__main__":
    main()
