"""The per-request deadline: INTMAX_API_REQUEST_TIMEOUT_SECONDS, then 504 GATEWAY_TIMEOUT.

`TimeoutMiddleware` cancels the request's work at the deadline and answers
`{"code":"GATEWAY_TIMEOUT","message":"Gateway Timeout"}` if no response has started. Cancelling the
coroutine does not stop a blocking call in a worker thread, so the deadline is also published in
`request_deadline` (a context variable, which worker threads inherit): warehouse reads
(`intmax_api.warehouse_reads`) hand the time left to the database itself, so a query blocked on a
lock ends on the server too instead of holding a connection and a thread after the 504.
"""

from __future__ import annotations

import contextvars
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intmax_api.errors import envelope

# time.monotonic() at which the current request's deadline passes; None outside a request.
request_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("request_deadline", default=None)


def time_left() -> float | None:
    """Seconds until the current request's deadline (never negative), or None outside a request."""
    deadline = request_deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class TimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        token = request_deadline.set(time.monotonic() + self.timeout_seconds)
        try:
            with anyio.move_on_after(self.timeout_seconds) as cancel_scope:
                await self.app(scope, receive, send_tracking)
        finally:
            request_deadline.reset(token)
        if cancel_scope.cancelled_caught and not started:
            response = envelope(504, "GATEWAY_TIMEOUT", "Gateway Timeout")
            response.headers["Cache-Control"] = "no-store"
            await response(scope, receive, send)
