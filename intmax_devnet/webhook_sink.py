"""A stand-in for a Discord webhook on the devnet: the alerts' destination (`INTMAX_ALERT_WEBHOOK_URL`).

It runs as its own process (`python -m intmax_devnet.webhook_sink`), started by `intmax devnet up`,
and answers `POST /webhooks/{id}/{token}` with JSON `{"content": "<text>", ...}` as Discord does:

- 204 No Content, and the message is recorded (`webhook_id`, `content`, `received_at`, plus any other
  Discord fields sent, e.g. `username`; never the token). With `?wait=true`, 200 and the message.
- empty or missing `content` and no `embeds` -> 400 `{"message": "Cannot send an empty message", "code": 50006}`;
  a body that is not JSON -> 400 code 50109; `content` over 2000 characters (or a body that is not
  a JSON object) -> 400 `{"message": "Invalid Form Body", "code": 50035}`; any other path -> 404
  `{"message": "Unknown Webhook", "code": 10015}`.

Any token is accepted: the token is a secret of the URL, so it is redacted from the log file.

Admin endpoints, for tests (not part of Discord's API):
- `POST /__faults {"mode": "rate_limited"|"http", "count": n, "status"?: int, "retry_after"?: seconds}`:
  the next n webhook posts fail and are not recorded. "rate_limited" answers 429 with Discord's
  `{"message": "You are being rate limited.", "retry_after": <float>, "global": false}` and a
  `Retry-After` header (whole seconds, rounded up); "http" answers `status` (default 500). `count: 0`
  clears. `GET /__faults` shows what is pending.
- `GET /__messages` -> `{"messages": [...]}` in arrival order; `POST /__reset` forgets messages and faults.
- `GET /__health`: readiness.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from intmax_core.devnet_manifest import DEVNET_ALERT_WEBHOOK_PATH
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

WEBHOOK_PATH = re.compile(r"^/webhooks/(?P<id>[^/]+)/(?P<token>[^/?]+)/?$")
# Only the token segment: the id stays readable in the log.
TOKEN_IN_TEXT = re.compile(r"(/webhooks/[^/\s]+/)[^/\s?\"]+")
MAX_CONTENT_LENGTH = 2000
FAULT_MODES = ("rate_limited", "http")
DEFAULT_FAULT_STATUS = 500
DEFAULT_RETRY_AFTER_SECONDS = 1.0
# Discord's answers, verbatim.
EMPTY_MESSAGE = {"message": "Cannot send an empty message", "code": 50006}
INVALID_JSON = {"message": "The request body contains invalid JSON.", "code": 50109}
INVALID_FORM_BODY = {"message": "Invalid Form Body", "code": 50035}
UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}
RATE_LIMITED_MESSAGE = "You are being rate limited."


@dataclass
class Fault:
    mode: str
    count: int
    status: int = DEFAULT_FAULT_STATUS
    retry_after: float = DEFAULT_RETRY_AFTER_SECONDS


class SinkState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.fault: Fault | None = None

    def take_fault(self) -> Fault | None:
        with self.lock:
            if self.fault is None or self.fault.count <= 0:
                return None
            self.fault.count -= 1
            return Fault(**asdict(self.fault))

    def record(self, webhook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        # Other Discord fields (username, embeds, ...) are kept; the fixed keys win over a body's own.
        received_at = datetime.now(UTC).isoformat()
        message = {**body, "webhook_id": webhook_id, "content": body.get("content") or "", "received_at": received_at}
        with self.lock:
            self.messages.append(message)
            message["id"] = str(len(self.messages))
        return message

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.fault = None


class Handler(JsonHandler):
    server: StandInServer

    @property
    def state(self) -> SinkState:
        return self.server.state  # type: ignore[return-value]

    def redact(self, text: str) -> str:
        return TOKEN_IN_TEXT.sub(r"\1<token>", text)

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/__health":
            return self.send_json(200, {"ok": True})
        if path == "/__messages":
            with self.state.lock:
                return self.send_json(200, {"messages": list(self.state.messages)})
        if path == "/__faults":
            fault = self.state.fault
            return self.send_json(200, asdict(fault) if fault and fault.count > 0 else {"mode": None, "count": 0})
        return self.send_json(404, UNKNOWN_WEBHOOK)

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path in ("/__faults", "/__reset"):
            try:
                return self._admin(url.path, self.read_json_object())
            except BadBody as error:
                return self.send_json(400, {"error": str(error)})
        match = WEBHOOK_PATH.match(url.path)
        if match is None:
            self.read_body()  # drain it: the connection stays usable for the next request
            return self.send_json(404, UNKNOWN_WEBHOOK)
        raw = self.read_body()
        fault = self.state.take_fault()
        if fault is not None and fault.mode == "rate_limited":
            body = {"message": RATE_LIMITED_MESSAGE, "retry_after": fault.retry_after, "global": False}
            headers = {"Retry-After": str(math.ceil(fault.retry_after)), "X-RateLimit-Scope": "user"}
            return self.send_json(429, body, headers)
        if fault is not None:
            return self.send_json(fault.status, {"message": "injected fault", "code": 0})
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send_json(400, INVALID_JSON)
        if not isinstance(body, dict):
            return self.send_json(400, INVALID_FORM_BODY)
        content, embeds = body.get("content"), body.get("embeds")
        if content is not None and not isinstance(content, str):
            return self.send_json(400, INVALID_FORM_BODY)
        if len(content or "") > MAX_CONTENT_LENGTH:
            return self.send_json(400, INVALID_FORM_BODY)
        if not (content or "").strip() and not (isinstance(embeds, list) and embeds):
            return self.send_json(400, EMPTY_MESSAGE)
        message = self.state.record(match["id"], body)
        if parse_qs(url.query).get("wait", ["false"])[-1].lower() == "true":
            return self.send_json(200, message)
        return self.send_raw(204, b"", "application/json")

    def _admin(self, path: str, body: dict[str, Any]) -> None:
        if path == "/__reset":
            self.state.reset()
            return self.send_json(200, {"reset": True})
        mode = body.get("mode")
        if mode not in FAULT_MODES:
            raise BadBody(f"mode must be one of {', '.join(FAULT_MODES)}")
        fault = Fault(
            mode=mode,
            count=non_negative_count(body) or 0,
            status=error_status(body, DEFAULT_FAULT_STATUS),
            retry_after=non_negative_number(body, "retry_after", DEFAULT_RETRY_AFTER_SECONDS),
        )
        with self.state.lock:
            self.state.fault = fault if fault.count > 0 else None
        return self.send_json(200, asdict(fault))


# --- the process, as `intmax devnet up` runs it ----------------------------------------------


class WebhookSinkStandIn(StandInProcess):
    """The running webhook sink; `webhook_url` is the devnet's alert webhook URL on it."""

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{DEVNET_ALERT_WEBHOOK_PATH}"


def start_standin(port: int | None = None, *, log_path: Path | None = None) -> WebhookSinkStandIn:
    """Start the sink in its own process group and wait until it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    pid = start_standin_process(
        "webhook sink", "intmax_devnet.webhook_sink", ["--port", str(port)], f"{url}/__health", log_path=log_path
    )
    return WebhookSinkStandIn(port=port, pid=pid, log_path=log_path)


def main(argv: list[str] | None = None) -> None:
    accept_termination_signals()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    StandInServer(args.port, Handler, SinkState()).serve_forever()


if __name__ == "__main__":
    main()
