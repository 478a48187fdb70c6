"""The deposit status API: GET /v1/deposits/{depositId} and GET /v1/deposits.

Reads the `deposits` table (one row per Liquidity deposit id, kept by the `deposits` asset) joined
with the resolved `token_maps` row of its token: symbol and decimals are null while the token is
not resolved yet. Amounts are decimal strings of base units (uint256 does not fit a JSON number
safely); times are ISO-8601 UTC block times; hashes and addresses lowercase hex.

The list is filtered by `depositor` (optional) and ordered by deposit id, newest first; `cursor`
is the last deposit id of the previous page (`nextCursor`, a decimal string), and the next page
holds the ids below it. Not cached: a deposit's status moves on as the chains do.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import Connection, Row, select

from intmax_api.dependencies import ApiState, api_state
from intmax_api.errors import ApiError
from intmax_api.formats import iso_utc
from intmax_api.query import (
    ADDRESS_PATTERN,
    MAX_BIGINT,
    PER_PAGE_PATTERN,
    UINT_PATTERN,
    QueryErrors,
    parse_address,
    parse_per_page,
    parse_uint,
    single,
    strict_query,
    validation_error,
)
from intmax_api.routers.tokens import ValidationFailure
from intmax_api.warehouse_reads import read_warehouse
from intmax_core.warehouse.deposits_tables import deposits
from intmax_core.warehouse.tokens_tables import token_maps

router = APIRouter(tags=["deposits"])

LIST_QUERY_KEYS = ("cursor", "depositor", "perPage")
DEFAULT_DEPOSITS_PER_PAGE = 100


class DepositEvent(BaseModel):
    txHash: str = Field(description="L1 transaction that emitted Deposited.")
    blockNumber: int
    time: str = Field(description="L1 block time, ISO-8601 UTC.")


class DepositRelay(BaseModel):
    txHash: str = Field(description="L1 transaction of the first DepositsRelayed covering the deposit.")
    blockNumber: int | None
    time: str | None
    upToDepositId: int | None = Field(description="The relayed batch's last deposit id.")


class DepositProcessed(BaseModel):
    txHash: str = Field(description="L2 transaction of the DepositLeafInserted of this deposit.")
    blockNumber: int | None
    time: str | None
    leafIndex: int | None = Field(description="Deposit tree leaf index (from 0).")


class DepositCancel(BaseModel):
    txHash: str = Field(description="L1 transaction of DepositCanceled.")
    blockNumber: int | None


class Deposit(BaseModel):
    depositId: int
    status: Literal["pending", "relayed", "processed", "canceled"] = Field(
        description="pending -> relayed -> processed, or canceled (only while pending)."
    )
    depositor: str
    recipientSaltHash: str
    tokenIndex: int
    tokenSymbol: str | None = Field(description="Null while the token is not resolved in the token map.")
    tokenDecimals: int | None = Field(description="Null while the token is not resolved in the token map.")
    amount: str = Field(description="Exact amount in the token's base unit, as a decimal string.")
    isEligible: bool
    depositHash: str
    deposit: DepositEvent
    relay: DepositRelay | None
    processed: DepositProcessed | None
    cancel: DepositCancel | None


class DepositList(BaseModel):
    items: list[Deposit]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last page.")
    hasMore: bool


class NotFound(BaseModel):
    code: str = "NOT_FOUND"
    message: str


def _query():  # type: ignore[no-untyped-def]
    resolved = token_maps.c.resolved_at.is_not(None)
    return select(
        deposits,
        token_maps.c.symbol.label("token_symbol"),
        token_maps.c.decimals.label("token_decimals"),
    ).select_from(deposits.outerjoin(token_maps, (token_maps.c.token_index == deposits.c.token_index) & resolved))


def _deposit(row: Row[Any]) -> Deposit:
    return Deposit(
        depositId=row.deposit_id,
        status=row.status,
        depositor=row.depositor,
        recipientSaltHash=row.recipient_salt_hash,
        tokenIndex=row.token_index,
        tokenSymbol=row.token_symbol,
        tokenDecimals=row.token_decimals,
        amount=str(int(row.amount)),
        isEligible=bool(row.is_eligible),
        depositHash=row.deposit_hash,
        deposit=DepositEvent(
            txHash=row.deposit_tx_hash, blockNumber=row.deposit_block_number, time=iso_utc(row.deposited_at) or ""
        ),
        relay=DepositRelay(
            txHash=row.relay_tx_hash,
            blockNumber=row.relay_block_number,
            time=iso_utc(row.relayed_at),
            upToDepositId=row.relay_up_to_deposit_id,
        )
        if row.relay_tx_hash
        else None,
        processed=DepositProcessed(
            txHash=row.processed_tx_hash,
            blockNumber=row.processed_block_number,
            time=iso_utc(row.processed_at),
            leafIndex=row.leaf_index,
        )
        if row.processed_tx_hash
        else None,
        cancel=DepositCancel(txHash=row.cancel_tx_hash, blockNumber=row.cancel_block_number)
        if row.cancel_tx_hash
        else None,
    )


@router.get(
    "/deposits/{depositId}",
    response_model=Deposit,
    responses={
        400: {"model": ValidationFailure, "description": "depositId is not a decimal integer"},
        404: {"model": NotFound, "description": "No deposit with this id (yet)"},
    },
    summary="One deposit's status and lifecycle",
)
async def deposit_by_id(
    depositId: str = Path(
        description="Liquidity deposit id (decimal digits).", json_schema_extra={"pattern": UINT_PATTERN}
    ),
    state: ApiState = Depends(api_state),
) -> Deposit:
    errors = QueryErrors()
    deposit_id = parse_uint(depositId, "depositId", errors, maximum=MAX_BIGINT)
    if deposit_id is None:
        raise validation_error("depositId", errors.items[0]["message"])

    def read(connection: Connection) -> Row[Any] | None:
        return connection.execute(_query().where(deposits.c.deposit_id == deposit_id)).first()

    row = await read_warehouse(state.engine, read)
    if row is None:
        raise ApiError(404, f"Deposit {deposit_id} not found")
    return _deposit(row)


@router.get(
    "/deposits",
    response_model=DepositList,
    responses={400: {"model": ValidationFailure, "description": "Invalid query"}},
    summary="Deposits, newest first, optionally of one depositor",
)
async def deposit_list(
    request: Request,
    state: ApiState = Depends(api_state),
    # SkipJsonSchema: a query value is a string or absent, never null; the patterns document what
    # the route checks by hand (intmax_api.query).
    depositor: str | SkipJsonSchema[None] = Query(
        None, description="L1 address that deposited.", json_schema_extra={"pattern": ADDRESS_PATTERN}
    ),
    cursor: str | SkipJsonSchema[None] = Query(
        None,
        description="nextCursor of the previous page (a deposit id).",
        json_schema_extra={"pattern": UINT_PATTERN},
    ),
    perPage: str | SkipJsonSchema[None] = Query(
        None, description="Page size 1-250 (digits only); default 100.", json_schema_extra={"pattern": PER_PAGE_PATTERN}
    ),
) -> DepositList:
    errors = QueryErrors()
    values = strict_query(request, LIST_QUERY_KEYS, errors)
    per_page = parse_per_page(values, errors) or DEFAULT_DEPOSITS_PER_PAGE
    depositor_text = single(values, "depositor", errors)
    address = parse_address(depositor_text, "depositor", errors) if depositor_text is not None else None
    cursor_text = single(values, "cursor", errors)
    before = parse_uint(cursor_text, "cursor", errors) if cursor_text is not None else None
    errors.raise_if_any()

    def read(connection: Connection) -> list[Row[Any]]:
        query = _query()
        if address is not None:
            query = query.where(deposits.c.depositor == address)
        if before is not None:
            query = query.where(deposits.c.deposit_id < before)
        # One more than the page: whether another page exists, without counting.
        return list(connection.execute(query.order_by(deposits.c.deposit_id.desc()).limit(per_page + 1)))

    rows = await read_warehouse(state.engine, read)
    page, has_more = rows[:per_page], len(rows) > per_page
    return DepositList(
        items=[_deposit(row) for row in page],
        nextCursor=str(page[-1].deposit_id) if has_more else None,
        hasMore=has_more,
    )
