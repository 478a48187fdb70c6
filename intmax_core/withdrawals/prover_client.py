"""The prover gateway's three stages (docs/protocol.md §13): chain proofs, the wrapper, gnark.

Each stage is a POST that starts a job and a GET that is polled. Every GET answer is classified
the same way: a proof present -> done; an `errorMessage` -> failed, and polling stops at once (the
original waited out its whole budget on a failed proof); anything else -> pending (this covers the
wrapper's pending answer, `success:false, proof:null, errorMessage:null`). HTTP and network errors
are retried within the stage's budget; a stage that is not done within its budget fails.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

CHAIN_PATH = "/aggregator-prover/proof/withdrawal"
WRAPPER_PATH = "/aggregator-prover/proof/wrapper/withdrawal"
GNARK_START_PATH = "/withdrawal-gnark-server/start-proof"
GNARK_GET_PATH = "/withdrawal-gnark-server/get-proof"


class ProverFailed(RuntimeError):
    """The prover said no (an errorMessage), or a stage did not finish within its budget."""


@dataclass(frozen=True)
class ProverBudget:
    poll_interval_seconds: float
    stage_timeout_seconds: float
    request_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ChainProof:
    proof: str  # base64 plonky2 proof, passed on to the next step
    withdrawal: dict[str, Any]  # recipient, tokenIndex, amount (decimal string), nullifier, blockHash, blockNumber


@dataclass(frozen=True)
class GnarkProof:
    public_inputs: list[int]  # [circuitDigest, pisHash]
    proof: bytes


class ProverClient:
    def __init__(self, base_url: str, budget: ProverBudget, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.sleep = sleep
        self.http = httpx.Client(timeout=budget.request_timeout_seconds)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ProverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- stages

    def chain_proof(self, proof_id: str, single_proof: bytes, previous: ChainProof | None) -> ChainProof:
        body = {
            "id": proof_id,
            "singleWithdrawalProof": base64.b64encode(single_proof).decode(),
            "prevWithdrawalProof": previous.proof if previous else None,
        }
        self._start("chain proof", CHAIN_PATH, body)
        result = self._poll("chain proof", lambda: self._get(f"{CHAIN_PATH}/{proof_id}"))
        proof = result["proof"]
        if not isinstance(proof, dict) or "proof" not in proof or "withdrawal" not in proof:
            raise ProverFailed(f"chain proof {proof_id}: malformed result")
        return ChainProof(proof["proof"], proof["withdrawal"])

    def wrapper_proof(self, proof_id: str, aggregator: str, last_chain_proof: ChainProof) -> str:
        body = {"id": proof_id, "withdrawalAggregator": aggregator, "withdrawalProof": last_chain_proof.proof}
        self._start("wrapper proof", WRAPPER_PATH, body)
        result = self._poll("wrapper proof", lambda: self._get(f"{WRAPPER_PATH}/{proof_id}"))
        if not isinstance(result["proof"], str):
            raise ProverFailed(f"wrapper proof {proof_id}: malformed result")
        return result["proof"]

    def gnark_proof(self, wrapper_proof: str, verifier_data: str) -> GnarkProof:
        started = self._start("gnark proof", GNARK_START_PATH, {"proof": wrapper_proof, "verifierData": verifier_data})
        job_id = started.get("jobId")
        if not isinstance(job_id, str) or not job_id:
            raise ProverFailed("gnark proof: the server gave no jobId")
        result = self._poll("gnark proof", lambda: self._get(GNARK_GET_PATH, params={"jobId": job_id}))
        proof = result["proof"]
        try:
            return GnarkProof([int(x) for x in proof["publicInputs"]], bytes.fromhex(proof["proof"].removeprefix("0x")))
        except (KeyError, TypeError, ValueError):
            raise ProverFailed(f"gnark proof {job_id}: malformed result") from None

    # ---------------------------------------------------------------------------------- HTTP

    def _start(self, stage: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.budget.stage_timeout_seconds
        while True:
            try:
                response = self.http.post(self.base_url + path, json=body)
                if response.status_code < 500:
                    response.raise_for_status()
                    return _json(response)
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPStatusError as error:
                raise ProverFailed(
                    f"{stage}: the prover refused the request (HTTP {error.response.status_code})"
                ) from None
            except (httpx.TransportError, ValueError) as error:
                problem = type(error).__name__
            if time.monotonic() >= deadline:
                raise ProverFailed(
                    f"{stage}: could not start within {self.budget.stage_timeout_seconds:.0f} s ({problem})"
                )
            self.sleep(self.budget.poll_interval_seconds)

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any] | None:
        """The answer, or None for an HTTP/network error (retried by the poll)."""
        try:
            response = self.http.get(self.base_url + path, params=params)
            if response.status_code >= 400:
                return None
            return _json(response)
        except (httpx.TransportError, ValueError):
            return None

    def _poll(self, stage: str, get: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        deadline = time.monotonic() + self.budget.stage_timeout_seconds
        while True:
            answer = get()
            if answer is not None:
                if answer.get("errorMessage"):
                    raise ProverFailed(f"{stage} failed: {answer['errorMessage']}")
                if answer.get("success") and answer.get("proof") is not None:
                    return answer
            if time.monotonic() >= deadline:
                raise ProverFailed(f"{stage} not ready within {self.budget.stage_timeout_seconds:.0f} s")
            self.sleep(self.budget.poll_interval_seconds)


def _json(response: httpx.Response) -> dict[str, Any]:
    value = response.json()
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def verifier_data_json(verifier_data: dict[str, Any]) -> str:
    return json.dumps(verifier_data, separators=(",", ":"))
