"""A stand-in for the Predicate API on the devnet (`INTMAX_PREDICATE_API_URL`, `INTMAX_PREDICATE_API_KEY`).

It runs as its own process (`python -m intmax_devnet.predicate`), started by `intmax devnet up`,
and serves the one call the pipeline makes, at `/v1/task` (the manifest's predicate_api_url):

    POST /v1/task   x-api-key: <key>   Content-Type: application/json
    {"from": "0x..", "to": "0x..", "data": "0x..", "msg_value": "<decimal>", "chain_id"?: int}
    -> 200 {"is_compliant": true, "task_id": "<uuid4>", "expiry_block": <int>,
            "signers": ["0x.."], "signature": ["0x.."]}

A missing or wrong `x-api-key` answers 401 `{"error": "unauthorized"}`; a body that is not a JSON
object or lacks a valid from/to/data/msg_value answers 400 `{"error": "<what is wrong>"}`. The
signature is a real ECDSA signature by `signers[0]` (a devnet key) over the task's fields; no
devnet contract checks it. The process only knows the key's SHA-256 (given on its command line);
neither the key nor any request header is logged or kept.

Admin endpoints, for tests (not part of the real API):
- `POST /__answer {"mode": "compliant"|"non_compliant"|"error"|"delay", "count"?: n, "status"?: int,
  "body"?: str, "delay_seconds"?: x}`: the next n authorised task requests (count absent: every one
  until reset; `count: 0`: back to the default) are answered that way. "compliant"/"non_compliant"
  set `is_compliant`; "error" answers `status` (default 500) with the text `body` (default
  "internal error"); "delay" sleeps `delay_seconds` (default 15, past the client's 10 s timeout)
  then answers compliant. `GET /__answer` shows it.
- `GET /__requests` -> `{"requests": [<parsed body>, ...]}`: the JSON-object bodies of the
  authorised task requests, in arrival order (no headers, so never the key).
- `POST /__reset`: default answers, no requests. `GET /__health`: readiness.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from eth_account import Account
from eth_hash.auto import keccak

from intmax_core.devnet_manifest import PREDICATE_TASK_PATH
from intmax_devnet import accounts
from intmax_devnet.anvil import accept_termination_signals, free_port
from intmax_devnet.standin_http import (
    BadBody,
    JsonHandler,
    StandInServer,
    error_status,
    non_negative_count,
    non_negative_number,
)
from intmax_devnet.standin_process import StandInProcess, start_standin_process

ANSWER_MODES = ("compliant", "non_compliant", "error", "delay")
DEFAULT_ERROR_STATUS = 500
DEFAULT_ERROR_BODY = "internal error"
# Longer than the pipeline's predicate_timeout_seconds (10 s).
DEFAULT_DELAY_SECONDS = 15.0
# The devnet chains never get near this block: a devnet permission never expires.
DEVNET_EXPIRY_BLOCK = 1_000_000_000
# The devnet account that "signs" the Predicate answers (outside the roles', users' and builders' ranges).
PREDICATE_SIGNER_INDEX = 300
HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
HEX_DATA = re.compile(r"^0x([0-9a-fA-F]{2})*$")
DECIMAL = re.compile(r"^[0-9]+$")


@dataclass
class Answer:
    mode: str = "compliant"
    count: int | None = None  # None: until reset
    status: int = DEFAULT_ERROR_STATUS
    body: str = DEFAULT_ERROR_BODY
    delay_seconds: float = DEFAULT_DELAY_SECONDS


class PredicateState:
    def __init__(self, api_key_sha256: str) -> None:
        self.api_key_sha256 = bytes.fromhex(api_key_sha256)
        self.signer = accounts.account(PREDICATE_SIGNER_INDEX)
        self.lock = threading.Lock()
        self.answer = Answer()
        self.requests: list[dict[str, Any]] = []

    def take_answer(self) -> Answer:
        with self.lock:
            answer = Answer(**asdict(self.answer))
            if self.answer.count is not None:
                self.answer.count -= 1
                if self.answer.count <= 0:
                    self.answer = Answer()
            return answer

    def sign(self, task_id: str, task: dict[str, Any]) -> str:
        fields = (task_id, task["from"].lower(), task["to"].lower(), task["data"].lower(), task["msg_value"])
        digest = keccak("|".join([*fields, str(DEVNET_EXPIRY_BLOCK)]).encode())
        return Account.unsafe_sign_hash(digest, self.signer.private_key).signature.to_0x_hex()


def check_task(body: dict[str, Any]) -> None:
    """BadBody naming the first thing wrong with a task request body."""
    for name in ("from", "to"):
        if not isinstance(body.get(name), str) or not HEX_ADDRESS.match(body[name]):
            raise BadBody(f"{name} must be a 0x-prefixed 20-byte hex address")
    if not isinstance(body.get("data"), str) or not HEX_DATA.match(body["data"]):
        raise BadBody("data must be 0x-prefixed hex bytes")
    if not isinstance(body.get("msg_value"), str) or not DECIMAL.match(body["msg_value"]):
        raise BadBody("msg_value must be a decimal string")
    chain_id = body.get("chain_id")
    if chain_id is not None and (isinstance(chain_id, bool) or not isinstance(chain_id, int)):
        raise BadBody("chain_id must be an integer")


class Handler(JsonHandler):
    server: StandInServer

    @property
    def state(self) -> PredicateState:
        return self.server.state  # type: ignore[return-value]

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/__health":
            return self.send_json(200, {"ok": True})
        if path == "/__answer":
            return self.send_json(200, asdict(self.state.answer))
        if path == "/__requests":
            with self.state.lock:
                return self.send_json(200, {"requests": list(self.state.requests)})
        return self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = urlparse(self.path).path.rstrip("/")
        if path == PREDICATE_TASK_PATH:
            return self._task()
        try:
            body = self.read_json_object()
            if path == "/__answer":
                return self._set_answer(body)
        except BadBody as error:
            return self.send_json(400, {"error": str(error)})
        if path == "/__reset":
            with self.state.lock:
                self.state.answer, self.state.requests = Answer(), []
            return self.send_json(200, {"reset": True})
        return self.send_json(404, {"error": "not found"})

    def _task(self) -> None:
        try:
            raw = self.read_body()
        except BadBody as error:
            return self.send_json(400, {"error": str(error)})
        given = hashlib.sha256((self.headers.get("x-api-key") or "").encode()).digest()
        if not hmac.compare_digest(given, self.state.api_key_sha256):
            return self.send_json(401, {"error": "unauthorized"})
        try:
            body = JsonHandler.parse_object(raw)
        except BadBody as error:
            return self.send_json(400, {"error": str(error)})
        with self.state.lock:
            self.state.requests.append(body)
        try:
            check_task(body)
        except BadBody as error:
            return self.send_json(400, {"error": str(error)})
        answer = self.state.take_answer()
        if answer.mode == "error":
            return self.send_raw(answer.status, answer.body.encode(), "text/plain; charset=utf-8")
        if answer.mode == "delay":
            time.sleep(answer.delay_seconds)
        task_id = str(uuid.uuid4())
        return self.send_json(
            200,
            {
                "is_compliant": answer.mode != "non_compliant",
                "task_id": task_id,
                "expiry_block": DEVNET_EXPIRY_BLOCK,
                "signers": [self.state.signer.signer().address],
                "signature": [self.state.sign(task_id, body)],
            },
        )

    def _set_answer(self, body: dict[str, Any]) -> None:
        mode = body.get("mode")
        if mode not in ANSWER_MODES:
            raise BadBody(f"mode must be one of {', '.join(ANSWER_MODES)}")
        text = body.get("body", DEFAULT_ERROR_BODY)
        if not isinstance(text, str):
            raise BadBody("body must be a string")
        count = non_negative_count(body, default=None)
        answer = Answer(
            mode=mode,
            count=count,
            status=error_status(body, DEFAULT_ERROR_STATUS),
            body=text,
            delay_seconds=non_negative_number(body, "delay_seconds", DEFAULT_DELAY_SECONDS),
        )
        with self.state.lock:
            self.state.answer = answer if count != 0 else Answer()
        return self.send_json(200, asdict(self.state.answer))


# --- the process, as `intmax devnet up` runs it ----------------------------------------------


class PredicateStandIn(StandInProcess):
    """The running Predicate stand-in; `task_url` is the INTMAX_PREDICATE_API_URL."""

    @property
    def task_url(self) -> str:
        return f"{self.url}{PREDICATE_TASK_PATH}"


def start_standin(api_key: str, port: int | None = None, *, log_path: Path | None = None) -> PredicateStandIn:
    """Start the stand-in in its own process group, accepting only `api_key`."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    # Only the key's hash reaches the process (its command line is visible to `ps`).
    args = ["--port", str(port), "--api-key-sha256", hashlib.sha256(api_key.encode()).hexdigest()]
    pid = start_standin_process("Predicate", "intmax_devnet.predicate", args, f"{url}/__health", log_path=log_path)
    return PredicateStandIn(port=port, pid=pid, log_path=log_path)


def main(argv: list[str] | None = None) -> None:
    accept_termination_signals()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key-sha256", required=True, help="SHA-256 (hex) of the one x-api-key accepted")
    args = parser.parse_args(argv)
    StandInServer(args.port, Handler, PredicateState(args.api_key_sha256)).serve_forever()


if __name__ == "__main__":
    main()
