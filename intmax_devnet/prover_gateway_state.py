"""What the devnet prover gateway's handler threads share: jobs, caches, injected behaviour, a request log.

Jobs are computed when they are posted (signing takes milliseconds) but only become visible
`latency_seconds` later: until then every poll sees them pending, exactly as if a prover were
still working. Every method takes the one lock, so concurrent polls and posts are safe.
"""

from __future__ import annotations

import base64
import math
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from intmax_devnet.prover_gateway_proofs import InvalidProof, encode_wrapper_proof, extend_chain, gnark_proof
from intmax_devnet.single_withdrawal_proof import InvalidSingleWithdrawalProof, decode_proof

STAGES = ("chain", "wrapper", "gnark")
FAIL_MODES = ("error_message", "http_500", "never_finish")
# The original gateway caches a chain proof under its request id for 600 s (set-if-absent).
CHAIN_CACHE_TTL_SECONDS = 600.0
# Wrapper and gnark results live this long (the gnark server keeps them 24 h).
RESULT_TTL_SECONDS = 24 * 3600.0
INJECTED_ERROR = "injected failure (devnet prover gateway /__behaviour)"
MAX_LOGGED_REQUESTS = 10_000


@dataclass
class Behaviour:
    latency_seconds: float = 0.0
    fail: str | None = None
    # How many more jobs (error_message, never_finish) or requests (http_500) the fault applies to.
    count: int = 0


@dataclass
class Job:
    ready_at: float  # monotonic; math.inf = never finishes
    result: Any = None
    error: str | None = None


@dataclass
class Stage:
    behaviour: Behaviour = field(default_factory=Behaviour)
    jobs: dict[str, Job] = field(default_factory=dict)
    # id -> (result, expires_at); for the chain stage this is the set-if-absent proof cache.
    results: dict[str, tuple[Any, float]] = field(default_factory=dict)
    # id -> error message of a failed job (a failed chain job caches no proof).
    errors: dict[str, str] = field(default_factory=dict)


def _withdrawal_json(single_proof: bytes) -> dict[str, Any]:
    w = decode_proof(single_proof)
    return {
        "recipient": w.recipient,
        "tokenIndex": w.token_index,
        "amount": str(w.amount),
        "nullifier": w.nullifier,
        "blockHash": w.block_hash,
        "blockNumber": w.block_number,
    }


class GatewayState:
    def __init__(self, chain_cache_ttl_seconds: float = CHAIN_CACHE_TTL_SECONDS) -> None:
        self.lock = threading.Lock()
        self.chain_cache_ttl_seconds = chain_cache_ttl_seconds
        self.stages = {name: Stage() for name in STAGES}
        self.requests: list[dict[str, Any]] = []

    # --- admin ---------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.stages = {name: Stage() for name in STAGES}
            self.requests = []

    def set_behaviour(self, stage: str, behaviour: Behaviour) -> None:
        with self.lock:
            for name in STAGES if stage == "all" else (stage,):
                self.stages[name].behaviour = Behaviour(**asdict(behaviour))

    def behaviours(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {name: asdict(stage.behaviour) for name, stage in self.stages.items()}

    def log(self, entry: dict[str, Any]) -> None:
        with self.lock:
            if len(self.requests) < MAX_LOGGED_REQUESTS:
                self.requests.append({**entry, "at": time.time()})

    def logged(self, stage: str | None, method: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (stage is None or r["stage"] == stage) and (method is None or r["method"] == method)
            ]

    # --- faults --------------------------------------------------------------------------------
    def take_http_fault(self, stage: str) -> bool:
        """True if this request must answer HTTP 500 (counts one of the fault's requests)."""
        with self.lock:
            behaviour = self.stages[stage].behaviour
            if behaviour.fail == "http_500" and behaviour.count > 0:
                behaviour.count -= 1
                return True
            return False

    def _new_job(self, stage: Stage, result: Any, error: str | None) -> Job:
        """A job finishing after the stage's latency, or failing/hanging if a fault is pending (lock held)."""
        behaviour = stage.behaviour
        ready_at = time.monotonic() + behaviour.latency_seconds
        if behaviour.fail in ("error_message", "never_finish") and behaviour.count > 0:
            behaviour.count -= 1
            if behaviour.fail == "never_finish":
                ready_at = math.inf
            else:
                result, error = None, INJECTED_ERROR
        return Job(ready_at, result, error)

    def _settle(self, stage: Stage, job_id: str, ttl: float) -> None:
        """Move a finished job into the results (set-if-absent) or the errors (lock held)."""
        now = time.monotonic()
        for key in [k for k, (_, expires) in stage.results.items() if expires <= now]:
            del stage.results[key]
        job = stage.jobs.get(job_id)
        if job is None or job.ready_at > now:
            return
        del stage.jobs[job_id]
        if job.error is not None:
            stage.errors[job_id] = job.error
        else:
            # Set-if-absent: a result already cached under this id wins (the original's behaviour).
            stage.results.setdefault(job_id, (job.result, job.ready_at + ttl))

    def _status(self, stage: Stage, job_id: str, ttl: float) -> tuple[str, Any]:
        """("done", result) | ("pending", None) | ("failed", message) | ("unknown", None) (lock held)."""
        self._settle(stage, job_id, ttl)
        if job_id in stage.results:
            return "done", stage.results[job_id][0]
        if job_id in stage.jobs:
            return "pending", None
        if job_id in stage.errors:
            return "failed", stage.errors[job_id]
        return "unknown", None

    # --- 7.1 chain proofs ----------------------------------------------------------------------
    def post_chain(self, request_id: str, single_proof: bytes, prev_proof: bytes | None) -> bool:
        """Start a chain-proof job; False if the id already has a cached proof or a running job."""
        result: Any = None
        error: str | None = None
        try:
            withdrawal = _withdrawal_json(single_proof)
            chain_proof = extend_chain(prev_proof, decode_proof(single_proof))
            result = {"proof": base64.b64encode(chain_proof).decode(), "withdrawal": withdrawal}
        except InvalidSingleWithdrawalProof as invalid:
            error = f"invalid single withdrawal proof: {invalid}"
        except InvalidProof as invalid:
            error = f"invalid previous withdrawal proof: {invalid}"
        with self.lock:
            stage = self.stages["chain"]
            status, _ = self._status(stage, request_id, self.chain_cache_ttl_seconds)
            if status in ("done", "pending"):
                # The original's id collision: the cached proof stands, whatever prevWithdrawalProof says.
                return False
            stage.errors.pop(request_id, None)
            stage.jobs[request_id] = self._new_job(stage, result, error)
            return True

    def get_chain(self, request_id: str) -> dict[str, Any]:
        with self.lock:
            status, value = self._status(self.stages["chain"], request_id, self.chain_cache_ttl_seconds)
        if status == "done":
            return {"success": True, "proof": value, "errorMessage": None}
        if status == "pending":
            return {"success": True, "proof": None, "errorMessage": None}
        message = value if status == "failed" else f"no withdrawal proof with id {request_id}"
        return {"success": False, "proof": None, "errorMessage": message}

    # --- 7.2 wrapper proofs --------------------------------------------------------------------
    def post_wrapper(self, request_id: str, aggregator: str, chain_proof: bytes) -> None:
        result: Any = None
        error: str | None = None
        try:
            result = encode_wrapper_proof(chain_proof, aggregator)
        except InvalidProof as invalid:
            error = f"invalid withdrawal proof: {invalid}"
        with self.lock:
            stage = self.stages["wrapper"]
            stage.results.pop(request_id, None)
            stage.errors.pop(request_id, None)
            stage.jobs[request_id] = self._new_job(stage, result, error)

    def get_wrapper(self, request_id: str) -> dict[str, Any]:
        with self.lock:
            status, value = self._status(self.stages["wrapper"], request_id, RESULT_TTL_SECONDS)
        if status == "done":
            return {"success": True, "proof": value, "errorMessage": None}
        if status == "pending":
            # The original answers success:false while the wrapper proof is still being generated.
            return {"success": False, "proof": None, "errorMessage": None}
        message = value if status == "failed" else f"no wrapper proof with id {request_id}"
        return {"success": False, "proof": None, "errorMessage": message}

    # --- 7.3 gnark proofs ----------------------------------------------------------------------
    def post_gnark(self, wrapper_proof: str, verifier_error: str | None) -> str:
        job_id = str(uuid.uuid4())
        result: Any = None
        error = verifier_error
        if error is None:
            try:
                public_inputs, proof = gnark_proof(wrapper_proof)
                result = {"publicInputs": public_inputs, "proof": proof}
            except InvalidProof as invalid:
                error = f"invalid wrapper proof: {invalid}"
        with self.lock:
            stage = self.stages["gnark"]
            stage.jobs[job_id] = self._new_job(stage, result, error)
        return job_id

    def get_gnark(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            status, value = self._status(self.stages["gnark"], job_id, RESULT_TTL_SECONDS)
        if status == "done":
            return {"success": True, "proof": value, "errorMessage": None}
        if status == "pending":
            return {"success": True, "proof": None, "errorMessage": None}
        message = value if status == "failed" else f"no gnark job {job_id}"
        return {"success": False, "proof": None, "errorMessage": message}
