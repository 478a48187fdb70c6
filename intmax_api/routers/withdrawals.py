"""The withdrawal lifecycle API: GET /v1/withdrawals/{withdrawalHash} and GET /v1/withdrawals?recipient=.

Reads the withdrawal-server's `withdrawals` row (never its proof), the aggregator's group tables
and the indexed chain events (intmax_core.withdrawals.lifecycle): status, token, amount, the group
that carried it, the L2 submission (its queue event) and the L1 events (paid, claimable, claimed).
Amounts are decimal strings of base units; times ISO-8601 UTC. The list is one recipient's
withdrawals, newest first; `cursor` is the last withdrawal hash of the previous page. Not cached:
statuses move on as the chains do.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import Connection

from intmax_api.dependencies import ApiState, api_state
from intmax_api.errors import ApiError
from intmax_api.formats import iso_utc
from intmax_api.query import (
    ADDRESS_PATTERN,
    PER_PAGE_PATTERN,
    QueryErrors,
    parse_address,
    parse_per_page,
    single,
    strict_query,
    validation_error,
)
from intmax_api.routers.deposits import NotFound
from intmax_api.routers.tokens import ValidationFailure
from intmax_api.warehouse_reads import read_warehouse
from intmax_core.withdrawals import lifecycle
from intmax_core.withdrawals.lifecycle import ChainEvent, UnknownCursor, WithdrawalLifecycle

router = APIRouter(tags=["withdrawals"])

LIST_QUERY_KEYS = ("cursor", "perPage", "recipient")
DEFAULT_PER_PAGE = 100
HASH_LENGTH = 66
HASH_PATTERN = "^0[xX][0-9a-fA-F]{64}$"  # what _parse_hash accepts (it lowercases first)


class Event(BaseModel):
    event: str = Field(description="The contract event, e.g. DirectWithdrawalSuccessed.")
    txHash: str
    blockNumber: int
    time: str | None = Field(description="Block time, ISO-8601 UTC.")


class Group(BaseModel):
    groupId: str
    status: str = Field(description="collected, proving, submitting, submitted, failed or released.")
    position: int = Field(description="Chain position of the withdrawal in the group (from 0).")


class Withdrawal(BaseModel):
    withdrawalHash: str
    status: Literal["requested", "relayed", "success", "need_claim", "failed"]
    recipient: str
    tokenIndex: int
    tokenSymbol: str | None = Field(description="Null while the token is not resolved in the token map.")
    tokenDecimals: int | None
    amount: str = Field(description="Exact amount in the token's base unit, as a decimal string.")
    requestedAt: str | None
    group: Group | None = Field(description="The latest group that carried the withdrawal.")
    l2Submission: Event | None = Field(description="The L2 queue event of its submitWithdrawalProof.")
    l1Events: list[Event] = Field(description="L1 Liquidity events: paid directly, claimable, claimed.")
    l1TxHash: str | None = Field(description="L1 transaction of the latest event applied to the status.")


class WithdrawalList(BaseModel):
    items: list[Withdrawal]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last page.")
    hasMore: bool


def _event(event: ChainEvent) -> Event:
    return Event(event=event.name, txHash=event.tx_hash, blockNumber=event.block_number, time=iso_utc(event.time))


def _withdrawal(item: WithdrawalLifecycle) -> Withdrawal:
    return Withdrawal(
        withdrawalHash=item.withdrawal_hash,
        status=item.status,  # type: ignore[arg-type]
        recipient=item.recipient,
        tokenIndex=item.token_index,
        tokenSymbol=item.token_symbol,
        tokenDecimals=item.token_decimals,
        amount=str(item.amount),
        requestedAt=iso_utc(item.created_at),
        group=Group(**item.group) if item.group else None,
        l2Submission=_event(item.l2_submission) if item.l2_submission else None,
        l1Events=[_event(e) for e in item.l1_events],
        l1TxHash=item.l1_tx_hash,
    )


def _parse_hash(text: str, path: str, errors: QueryErrors) -> str | None:
    value = text.lower()
    if len(value) != HASH_LENGTH or not value.startswith("0x") or any(c not in "0123456789abcdef" for c in value[2:]):
        errors.add(path, "Invalid withdrawal hash format (0x + 64 hex characters)")
        return None
    return value


@router.get(
    "/withdrawals/{withdrawalHash}",
    response_model=Withdrawal,
    responses={
        400: {"model": ValidationFailure, "description": "withdrawalHash is not a 32-byte hex hash"},
        404: {"model": NotFound, "description": "No withdrawal with this hash"},
    },
    summary="One withdrawal's status and lifecycle",
)
async def withdrawal_by_hash(
    withdrawalHash: str = Path(
        description="The withdrawal hash (0x + 64 hex).", json_schema_extra={"pattern": HASH_PATTERN}
    ),
    state: ApiState = Depends(api_state),
) -> Withdrawal:
    errors = QueryErrors()
    withdrawal_hash = _parse_hash(withdrawalHash, "withdrawalHash", errors)
    if withdrawal_hash is None:
        raise validation_error("withdrawalHash", errors.items[0]["message"])

    def read(connection: Connection) -> WithdrawalLifecycle | None:
        return lifecycle.by_hash(connection, withdrawal_hash)

    item = await read_warehouse(state.engine, read)
    if item is None:
        raise ApiError(404, f"Withdrawal {withdrawal_hash} not found")
    return _withdrawal(item)


@router.get(
    "/withdrawals",
    response_model=WithdrawalList,
    responses={400: {"model": ValidationFailure, "description": "Invalid query"}},
    summary="A recipient's withdrawals, newest first",
)
async def withdrawal_list(
    request: Request,
    state: ApiState = Depends(api_state),
    # The patterns document what the route checks by hand (intmax_api.query); a query value is a
    # string or absent, never null (SkipJsonSchema).
    recipient: str = Query(
        description="L1 address that receives the withdrawals.", json_schema_extra={"pattern": ADDRESS_PATTERN}
    ),
    cursor: str | SkipJsonSchema[None] = Query(
        None,
        description="nextCursor of the previous page (a withdrawal hash of this recipient).",
        json_schema_extra={"pattern": HASH_PATTERN},
    ),
    perPage: str | SkipJsonSchema[None] = Query(
        None, description="Page size 1-250 (digits only); default 100.", json_schema_extra={"pattern": PER_PAGE_PATTERN}
    ),
) -> WithdrawalList:
    errors = QueryErrors()
    values = strict_query(request, LIST_QUERY_KEYS, errors)
    per_page = parse_per_page(values, errors) or DEFAULT_PER_PAGE
    recipient_text = single(values, "recipient", errors)
    address = parse_address(recipient_text, "recipient", errors) if recipient_text is not None else None
    cursor_text = single(values, "cursor", errors)
    after = _parse_hash(cursor_text, "cursor", errors) if cursor_text is not None else None
    errors.raise_if_any()
    if address is None:
        raise validation_error("recipient", "Required")

    def read(connection: Connection) -> tuple[list[WithdrawalLifecycle], bool]:
        return lifecycle.of_recipient(connection, address, per_page, after)

    try:
        items, has_more = await read_warehouse(state.engine, read)
    except UnknownCursor:
        raise validation_error("cursor", "Unknown cursor: not a withdrawal of this recipient") from None
    return WithdrawalList(
        items=[_withdrawal(item) for item in items],
        nextCursor=items[-1].withdrawal_hash if has_more else None,
        hasMore=has_more,
    )
