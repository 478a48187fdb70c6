"""The tx-map API: POST /v1/map stores `data` under `digest` until it expires; GET /v1/map/{digest}.

Entries live in the warehouse (`tx_maps`), so they survive restarts and every API replica sees
them. A GET never answers an expired entry: the expiry is checked on every read, and the 60 s
response cache keeps an answer at most until the entry's expiry (and a POST drops the cached
answer of its digest). The body is strict: unknown fields, a non-string digest or data, or an
`expiresIn` outside 300..432000 seconds are 400 VALIDATION_ERROR, as is malformed JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr, field_validator

from intmax_api.cache import CACHE_TTL_MS_HEADER, DETAIL_TTL_SECONDS, CachedRoute, cached, invalidate
from intmax_api.dependencies import ApiState, api_state
from intmax_api.errors import ApiError
from intmax_api.query import validation_error
from intmax_api.routers.deposits import NotFound
from intmax_api.routers.tokens import ValidationFailure
from intmax_api.warehouse_reads import read_warehouse
from intmax_core.txmap import store
from intmax_core.txmap.store import MAX_EXPIRES_IN_SECONDS, MIN_EXPIRES_IN_SECONDS
from intmax_core.warehouse.txmap_tables import DIGEST_MAX_LENGTH

router = APIRouter(tags=["tx-map"], route_class=CachedRoute)
MAX_DATA_LENGTH = 100_000  # characters; a tx-map holds a transaction reference, not a payload store
# PostgreSQL text cannot hold U+0000 (psycopg2 raised, a 500); refused on both backends alike.
NO_NUL_PATTERN = "^[^\\u0000]*$"
NUL_MESSAGE = "must not contain NUL (U+0000) characters"


class TxMapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digest: StrictStr = Field(min_length=1, max_length=DIGEST_MAX_LENGTH, json_schema_extra={"pattern": NO_NUL_PATTERN})
    data: StrictStr = Field(max_length=MAX_DATA_LENGTH, json_schema_extra={"pattern": NO_NUL_PATTERN})
    # StrictFloat takes JSON integers too; a union would drop the range from the OpenAPI (raw ge/le keys).
    expiresIn: StrictFloat = Field(
        MAX_EXPIRES_IN_SECONDS,
        ge=MIN_EXPIRES_IN_SECONDS,
        le=MAX_EXPIRES_IN_SECONDS,
        description="Seconds until the entry expires, 300..432000 (5 days, the default).",
    )

    @field_validator("digest", "data")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError(NUL_MESSAGE)
        return value


class TxMapCreated(BaseModel):
    digest: str


class TxMap(BaseModel):
    digest: str
    data: str


def _path(digest: str) -> str:
    return f"/v1/map/{digest}"


@router.post(
    "/map",
    response_model=TxMapCreated,
    responses={400: {"model": ValidationFailure, "description": "Invalid body or malformed JSON"}},
    summary="Store data under a digest until it expires (overwrites)",
)
async def put_tx_map(request: Request, body: TxMapRequest, state: ApiState = Depends(api_state)) -> TxMapCreated:
    expires_at = datetime.now(UTC) + timedelta(seconds=float(body.expiresIn))

    def write(connection) -> None:  # type: ignore[no-untyped-def]
        store.put(connection, body.digest, body.data, expires_at)
        connection.commit()  # the same bounded connection as reads: the request timeout covers the write

    await read_warehouse(state.engine, write)
    await invalidate(request, _path(body.digest))
    return TxMapCreated(digest=body.digest)


@router.get(
    "/map/{digest}",
    response_model=TxMap,
    responses={
        400: {"model": ValidationFailure, "description": "digest longer than 256 characters, or holding NUL"},
        404: {"model": NotFound, "description": "No entry, or it expired"},
    },
    summary="The data stored under a digest (404 once it expired)",
)
@cached(DETAIL_TTL_SECONDS)
async def get_tx_map(
    request: Request,
    digest: str = Path(
        description="The key given to POST /v1/map.",
        max_length=DIGEST_MAX_LENGTH,
        json_schema_extra={"pattern": NO_NUL_PATTERN},
    ),
    state: ApiState = Depends(api_state),
) -> JSONResponse:
    if "\x00" in digest:
        raise validation_error("digest", NUL_MESSAGE)
    now = datetime.now(UTC)

    def read(connection) -> store.TxMap | None:  # type: ignore[no-untyped-def]
        return store.get(connection, digest, now)

    entry = await read_warehouse(state.engine, read)
    if entry is None:
        raise ApiError(404, f"Tx map not found for key: {digest}")
    remaining_ms = int((entry.expires_at - datetime.now(UTC)).total_seconds() * 1000)
    return JSONResponse({"digest": digest, "data": entry.data}, headers={CACHE_TTL_MS_HEADER: str(remaining_ms)})
