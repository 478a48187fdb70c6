"""The HTTP plumbing the function stand-ins share (builder nodes, validity prover, Predicate, webhook sink).

Each stand-in is a ThreadingHTTPServer whose handler threads are daemons: a request sleeping in a
"slow"/"delay" behaviour neither blocks other requests nor keeps the process alive at shutdown.
Requests are logged to stderr (the stand-in's log file), with `redact` applied first so a secret in
a path (a webhook token) never reaches the log.
"""

from __future__ import annotations

import contextlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The admin endpoints' bodies are small; anything larger is a mistake, not a request to serve.
MAX_BODY_BYTES = 1_000_000


class BadBody(ValueError):
    """The request body is not what the endpoint takes; the message says what is wrong."""


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def redact(self, text: str) -> str:
        """The log line with any secret removed; stand-ins with secrets in their paths override it."""
        return text

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {self.redact(format % args)}\n")
        sys.stderr.flush()

    def send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.send_raw(status, json.dumps(body).encode(), "application/json", headers)

    def send_raw(self, status: int, raw: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        # A 204 carries neither a body nor a Content-Length (RFC 9110 §8.6).
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # A client that gave up (its timeout fired during a "slow" answer) has closed the socket.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.end_headers()
            if raw:
                self.wfile.write(raw)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise BadBody(f"body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def read_json_object(self, *, empty_is_object: bool = True) -> dict[str, Any]:
        """The body as a JSON object; BadBody when it is not one (an empty body is {} unless told otherwise)."""
        raw = self.read_body()
        if not raw and empty_is_object:
            return {}
        return self.parse_object(raw)

    @staticmethod
    def parse_object(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise BadBody("body must be JSON") from error
        if not isinstance(body, dict):
            raise BadBody("body must be a JSON object")
        return body


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, handler: type[JsonHandler], state: object) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.state = state


def non_negative_count(body: dict[str, Any], default: int | None = 1) -> int | None:
    """`body["count"]` as an integer >= 0 (absent -> `default`); BadBody otherwise."""
    count = body.get("count", default)
    if count is None and default is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise BadBody("count must be an integer >= 0")
    return count


def non_negative_number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadBody(f"{name} must be a number >= 0")
    return float(value)


def error_status(body: dict[str, Any], default: int) -> int:
    status = body.get("status", default)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise BadBody("status must be an HTTP error status (400..599)")
    return status
