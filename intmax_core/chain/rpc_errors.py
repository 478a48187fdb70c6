"""The RPC client's exceptions, and which JSON-RPC errors are worth retrying.

Messages never contain an RPC URL (URLs carry provider API keys); endpoints are named "url #n".
"""

from __future__ import annotations

from typing import Any

from intmax_core.chain.range_hints import is_oversized_request


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error that retrying the same request would not fix."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class RpcUnavailable(RuntimeError):
    """Every attempt failed transiently (unreachable, rate-limited, timing out, overloaded)."""


class RpcTimeout(RpcUnavailable):
    """A request timed out and the caller asked not to retry timeouts (it shrinks the request instead)."""


# Codes that describe the request itself (EIP-1474 and JSON-RPC 2.0): retrying it cannot help.
# 3 is geth's "execution reverted"; -32003 "transaction rejected"; -32004 "method not supported";
# -32006 "JSON-RPC version not supported".
PERMANENT_CODES = frozenset({3, -32700, -32600, -32601, -32602, -32003, -32004, -32006})
# Codes that describe the node's state or load: -32002 "resource unavailable", -32005 "limit
# exceeded" (rate limit), and the HTTP-like 429 some gateways put into the JSON-RPC error.
TRANSIENT_CODES = frozenset({-32002, -32005, 429})
# The remaining codes (-32000 "server error", -32603 "internal error", -32001, provider-specific
# ones) are used for anything from "execution reverted" to "header not found" on a lagging node
# behind a load balancer; for those only the message can tell. Lowercase substrings.
TRANSIENT_MESSAGE_MARKERS = (
    "timeout",
    "timed out",
    "header not found",
    "rate limit",
    "too many requests",
    "try again",
    "temporarily unavailable",
    "service unavailable",
    "busy",
)
TIMEOUT_MESSAGE_MARKERS = ("timeout", "timed out")


def is_transient(code: int | None, message: str) -> bool:
    """Whether a JSON-RPC error may go away if the same request is sent again (here or elsewhere).

    The code decides first. The message is consulted only where codes are ambiguous: a request
    rejected for its size (too many logs, too wide a block range) is never transient even under a
    "transient" code, because Infura reports it as -32005, the rate-limit code, and retrying it
    would wait out the whole backoff budget for an answer that cannot change.
    """
    if code in PERMANENT_CODES:
        return False
    lowered = message.lower()
    # A revert stays a revert whatever its reason string says ("...: timed out" is the contract's word).
    if "execution reverted" in lowered or is_oversized_request(message):
        return False
    if code in TRANSIENT_CODES:
        return True
    return any(marker in lowered for marker in TRANSIENT_MESSAGE_MARKERS)


def is_timeout_message(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in TIMEOUT_MESSAGE_MARKERS)
