"""POST /v1/predicate/evaluate-policy: a transaction goes to the Predicate API's policy evaluation.

The body is strict (unknown fields, wrong JSON types, a bad address, `chain_id` < 1: 400
VALIDATION_ERROR; malformed JSON too, where the original answered 500). Addresses are lowercased
and the body goes to `POST {INTMAX_PREDICATE_API_URL}` with `x-api-key`. Its 2xx JSON answer is
returned unchanged (status 200); anything else - a non-2xx status, a body that is not JSON, a
timeout, a connection failure - is 400 BAD_REQUEST whose message starts with the original's
`Predicate API error: Predicate API error (...)`. Unconfigured (no URL or key): 503.

Limits, chosen because the original had none: `data` and `msg_value` stay plain strings (the
original only required strings; the Predicate API decides what it accepts), at most
`MAX_DATA_LENGTH` and `MAX_MSG_VALUE_LENGTH` characters; `chain_id` at most 2^53 - 1, the largest
integer a JavaScript client or upstream reads exactly. The upstream answer is read up to
`MAX_UPSTREAM_BYTES`, and at most `predicate_timeout_seconds` in all (not per read).

The API key is a secret: it is sent only in the header, and removed from any upstream text that
is passed on; exceptions are never passed on as text (reasons are fixed phrases). Answers are
never cached: each is an evaluation of its own (the router has no `cached` route).
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import anyio
import httpx
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from intmax_api.dependencies import ApiState, api_state
from intmax_api.errors import ApiError
from intmax_api.routers.tokens import ValidationFailure
from intmax_core.config import Settings

log = logging.getLogger("intmax_api.predicate")
router = APIRouter(tags=["predicate"])

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
# Calldata as hex is 2 characters a byte: 100 000 characters is ~50 kB of calldata, far above a
# normal transaction and small enough that one request cannot make us forward megabytes.
MAX_DATA_LENGTH = 100_000
# A uint256 is at most 78 decimal digits (66 characters as 0x-hex); leave room for either form.
MAX_MSG_VALUE_LENGTH = 100
MAX_CHAIN_ID = 2**53 - 1
# A policy decision is a few hundred bytes; a bigger answer is not one, and is not read on.
MAX_UPSTREAM_BYTES = 1_000_000
# Upstream error text passed on to the client, at most (the rest is cut, "..." marks the cut).
MAX_UPSTREAM_TEXT = 500
ERROR_PREFIX = "Predicate API error: Predicate API error"
REDACTED = "[redacted]"

Address = Annotated[StrictStr, Field(pattern=ADDRESS_PATTERN, examples=["0x" + "ab" * 20])]


def _integer_only(schema: dict[str, Any]) -> None:
    # `None` is only the "omitted" default: an explicit null is rejected (_no_null), so the OpenAPI
    # must not offer it.
    schema.update(next(option for option in schema.pop("anyOf") if option.get("type") == "integer"))
    schema.pop("default", None)


class EvaluatePolicyRequest(BaseModel):
    # Unknown fields are errors; `from` is a Python keyword, hence the alias (only "from" is accepted).
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    from_: Address = Field(alias="from", description="Sender address (0x + 40 hex digits); lowercased.")
    to: Address = Field(description="Recipient or contract address; lowercased.")
    data: StrictStr = Field(max_length=MAX_DATA_LENGTH, description="Calldata, as the Predicate API expects it.")
    msg_value: StrictStr = Field(max_length=MAX_MSG_VALUE_LENGTH, description="Value sent with the call (wei).")
    chain_id: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_CHAIN_ID,
        description="Chain id; sent only when given (omit it: null is rejected).",
        json_schema_extra=_integer_only,
    )

    @field_validator("chain_id", mode="before")
    @classmethod
    def _no_null(cls, value: object) -> object:
        # Runs only when the field is present: an explicit null is a wrong type, not "omitted".
        if value is None:
            raise ValueError("must be an integer (omit the field to send no chain_id)")
        return value

    @field_validator("from_", "to")
    @classmethod
    def _lowercase(cls, address: str) -> str:
        return address.lower()

    def upstream_body(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class PolicyDecision(BaseModel):
    """Documentation only: the answer is the Predicate API's JSON, returned as it is (not re-modelled)."""

    model_config = ConfigDict(extra="allow")

    is_compliant: bool
    task_id: str
    expiry_block: int
    signers: list[str]
    signature: list[str]


class PredicateFailure(BaseModel):
    code: str = "BAD_REQUEST"
    message: str = Field(examples=[f"{ERROR_PREFIX} (500): internal error"])


class PredicateUnavailable(BaseModel):
    code: str = "SERVICE_UNAVAILABLE"
    message: str


def make_client(settings: Settings) -> httpx.AsyncClient:
    """The one client of every Predicate API request (its connection pool is shared)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.predicate_timeout_seconds), follow_redirects=False)


def _upstream_error(reason: str, detail: str) -> ApiError:
    return ApiError(400, f"{ERROR_PREFIX} ({reason}): {detail}")


def _passable_text(raw: bytes, api_key: str) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    text = text.replace(api_key, REDACTED)  # an upstream that echoes the key must not leak it
    if len(text) > MAX_UPSTREAM_TEXT:
        text = text[:MAX_UPSTREAM_TEXT] + "..."
    return text


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False
    return True


def _configuration(settings: Settings) -> tuple[str, str]:
    url = settings.predicate_api_url
    key = settings.predicate_api_key.get_secret_value() if settings.predicate_api_key else ""
    named = (("INTMAX_PREDICATE_API_URL", url), ("INTMAX_PREDICATE_API_KEY", key))
    missing = [name for name, value in named if not value]  # names only: never a value
    if missing or url is None:
        raise ApiError(503, f"Predicate API is not configured: set {' and '.join(missing)}")
    return url, key


async def _post(client: httpx.AsyncClient, url: str, key: str, body: bytes) -> tuple[int, bytes]:
    """(status, body) of the upstream answer; the body is cut at MAX_UPSTREAM_BYTES + 1."""
    headers = {"x-api-key": key, "Content-Type": "application/json"}
    async with client.stream("POST", url, content=body, headers=headers) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_UPSTREAM_BYTES:
                break
        return response.status_code, b"".join(chunks)


@router.post(
    "/predicate/evaluate-policy",
    response_model=None,
    responses={
        200: {
            "model": PolicyDecision,
            "description": "The Predicate API's answer, unchanged. Usually `{is_compliant, task_id, expiry_block, "
            "signers, signature}`; other fields it adds are passed on too.",
        },
        400: {
            "model": ValidationFailure | PredicateFailure,
            "description": "Invalid body or malformed JSON (VALIDATION_ERROR), or the Predicate API failed: a "
            "non-2xx status, a body that is not JSON, a timeout or no connection (BAD_REQUEST, message "
            "`Predicate API error: Predicate API error (<status>|timeout|unreachable|network): ...`).",
        },
        503: {"model": PredicateUnavailable, "description": "INTMAX_PREDICATE_API_URL or _KEY is not set"},
    },
    summary="Evaluate a transaction against the Predicate policy (forwarded to the Predicate API)",
)
async def evaluate_policy(
    request: Request, body: EvaluatePolicyRequest, state: ApiState = Depends(api_state)
) -> Response:
    settings = state.settings
    url, key = _configuration(settings)
    # The shared client: the app's lifespan creates it (make_client) as app.state.predicate_http.
    client: httpx.AsyncClient | None = getattr(request.app.state, "predicate_http", None)
    if client is None:
        # Only when the app runs without its lifespan (e.g. a TestClient outside `with`).
        raise ApiError(503, "Predicate API client is not running")
    timeout = settings.predicate_timeout_seconds
    payload = json.dumps(body.upstream_body(), separators=(",", ":")).encode()
    try:
        # httpx's timeout bounds each read; this bounds the whole exchange (a slow trickle too).
        with anyio.fail_after(timeout):
            status, raw = await _post(client, url, key, payload)
    except (TimeoutError, httpx.TimeoutException):
        log.warning("Predicate API did not answer within %g s", timeout)
        raise _upstream_error("timeout", f"no answer within {timeout:g} s") from None
    except httpx.ConnectError:
        log.warning("Predicate API unreachable (connection failed)")
        raise _upstream_error("unreachable", "could not connect") from None
    except httpx.HTTPError as error:
        # The exception's text is not passed on: it is internals (and could quote the request).
        log.warning("Predicate API request failed: %s", type(error).__name__)
        raise _upstream_error("network", "the connection failed") from None
    if not 200 <= status < 300:
        log.warning("Predicate API answered %d", status)
        raise _upstream_error(str(status), _passable_text(raw, key))
    if len(raw) > MAX_UPSTREAM_BYTES:
        raise _upstream_error(str(status), "response too large")
    if not _is_json(raw):
        log.warning("Predicate API answered %d with a body that is not JSON", status)
        raise _upstream_error(str(status), "response is not JSON")
    # The bytes as they came (validated JSON): re-encoding could change numbers beyond float range.
    return Response(content=raw, status_code=200, media_type="application/json")
