"""`?pretty` pretty-prints any JSON response (two-space indent), cached ones and errors included.

It runs outside the response cache, so the cache stores one compact body and both forms are
served from it; the weak ETag (intmax_api.cache) covers both forms, which mean the same.
"""

from __future__ import annotations

import contextlib
import json
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRETTY_QUERY_KEY = "pretty"


def wants_pretty(scope: Scope) -> bool:
    raw = scope.get("query_string", b"")
    if b"pretty" not in raw:
        return False  # the common case, without parsing
    query = raw.decode("latin-1")
    return any(key == PRETTY_QUERY_KEY for key, _ in parse_qsl(query, keep_blank_values=True))


class PrettyJsonMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not wants_pretty(scope):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_pretty(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = MutableHeaders(raw=message["headers"]).get("content-type", "")
                if content_type.startswith("application/json"):
                    start = message  # held back until the whole body is here
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            # Not really JSON: served as it is. The standard library, not orjson: uint256 values
            # (token ids) exceed 64 bits.
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                body = json.dumps(json.loads(body), indent=2, ensure_ascii=False).encode() if body else body
            headers = MutableHeaders(scope=start)
            headers["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_pretty)
