"""The token API: GET /v1/token-prices/list and GET /v1/token-maps/list, with the original shapes.

Both read the warehouse: `token_prices` (the current list, in `list_position` order; the price map
keyed by contract address, the later entry winning where two coins share an address, as the
original's map did) and `token_maps` (resolved rows only, ordered numerically by token index: the
original's string order put "10" before "2"). Both are cached 30 s per query (intmax_api.cache),
with weak ETags; gzip is applied by the app.

Query (strict, intmax_api.query): `perPage` (1-250, digits only), `cursor` (the contractAddress of
the previous page's last item), and `contractAddresses` (prices) or `tokenIndexes` (maps), each
repeatable up to 100 values. Prices filtered by `contractAddresses` come in request order,
unknown addresses dropped; maps filtered by `tokenIndexes` keep token-index order.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import Connection, select

from intmax_api.cache import LIST_TTL_SECONDS, CachedRoute, cached
from intmax_api.dependencies import ApiState, api_state
from intmax_api.pagination import paginate_by_address
from intmax_api.query import (
    ADDRESS_PATTERN,
    MAX_LIST_VALUES,
    PER_PAGE_PATTERN,
    UINT_PATTERN,
    QueryErrors,
    parse_address,
    parse_list,
    parse_per_page,
    parse_uint,
    single,
    strict_query,
)
from intmax_api.warehouse_reads import read_warehouse
from intmax_core.warehouse.tokens_tables import TokenType, token_maps, token_prices

router = APIRouter(tags=["tokens"], route_class=CachedRoute)

PRICE_QUERY_KEYS = ("contractAddresses", "cursor", "perPage")
MAP_QUERY_KEYS = ("cursor", "perPage", "tokenIndexes")
_NFT_TYPES = (TokenType.ERC721, TokenType.ERC1155)


class ValidationIssue(BaseModel):
    path: str
    message: str


class ValidationFailure(BaseModel):
    code: str = "VALIDATION_ERROR"
    message: str = "Validation Error"
    errors: list[ValidationIssue]


class TokenPrice(BaseModel):
    id: str = Field(description="CoinGecko coin id (lowercase).")
    symbol: str = Field(description="CoinGecko symbol (lowercase).")
    price: float = Field(description="USD price; 0 when unknown.")
    contractAddress: str = Field(description="Lowercase L1 address; the zero address for ETH.")
    decimals: int
    image: str = Field(description="Logo URL.")


class TokenPriceList(BaseModel):
    items: list[TokenPrice]
    nextCursor: str | None = Field(description="contractAddress of the last item if the page is full and more remain.")
    hasMore: bool
    total: int = Field(description="Items before pagination.")


class TokenMapItem(BaseModel):
    tokenIndex: int = Field(description="Liquidity token index (0 = ETH).")
    tokenType: int = Field(description="0 NATIVE, 1 ERC20, 2 ERC721, 3 ERC1155.")
    contractAddress: str
    symbol: str
    decimals: int
    price: float = Field(description="USD price from the price list; 0 when the list has none.")
    image: str = Field(description="Logo from the price list; the default image when it has none.")
    tokenId: int | None = Field(None, description="Present only for ERC721 and ERC1155.")


class TokenMapList(BaseModel):
    items: list[TokenMapItem]
    nextCursor: str | None
    hasMore: bool
    total: int


_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ValidationFailure, "description": "Invalid query"}}
# The query as the routes check it by hand (intmax_api.query), declared in the OpenAPI; a value is
# a string or absent, never null (SkipJsonSchema).
_PER_PAGE = "Page size 1-250 (digits only); default 100 when paginating."
_PER_PAGE_SCHEMA = {"pattern": PER_PAGE_PATTERN}
_CURSOR = "contractAddress of the previous page's last item (an unknown one starts at the first item)."


def _list_of(pattern: str) -> dict[str, Any]:
    return {"items": {"type": "string", "pattern": pattern}, "maxItems": MAX_LIST_VALUES}


def _price_rows(connection: Connection) -> list[dict[str, Any]]:
    rows = connection.execute(select(token_prices).order_by(token_prices.c.list_position, token_prices.c.coingecko_id))
    return [
        {
            "id": row.coingecko_id,
            "symbol": row.symbol,
            "price": row.price_usd,
            "contractAddress": row.contract_address,
            "decimals": row.decimals,
            "image": row.image,
        }
        for row in rows
    ]


def _price_map(prices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {price["contractAddress"]: price for price in prices}


@router.get(
    "/token-prices/list",
    response_model=TokenPriceList,
    responses=_ERRORS,
    summary="The token price list",
)
@cached(LIST_TTL_SECONDS, query_keys=PRICE_QUERY_KEYS, etag=True)
async def token_prices_list(
    request: Request,
    state: ApiState = Depends(api_state),
    contractAddresses: list[str] | SkipJsonSchema[None] = Query(
        None, description="Repeatable; at most 100 addresses.", json_schema_extra=_list_of(ADDRESS_PATTERN)
    ),
    perPage: str | SkipJsonSchema[None] = Query(None, description=_PER_PAGE, json_schema_extra=_PER_PAGE_SCHEMA),
    cursor: str | SkipJsonSchema[None] = Query(None, description=_CURSOR),
) -> JSONResponse:
    errors = QueryErrors()
    values = strict_query(request, PRICE_QUERY_KEYS, errors)
    per_page = parse_per_page(values, errors)
    page_cursor = single(values, "cursor", errors)
    addresses = parse_list(values, "contractAddresses", errors)
    wanted = [parse_address(a, "contractAddresses", errors) for a in addresses or []]
    errors.raise_if_any()

    prices = await read_warehouse(state.engine, _price_rows)
    if addresses is not None:
        by_address = _price_map(prices)
        prices = [by_address[a] for a in wanted if a in by_address]
    page = paginate_by_address(prices, per_page, page_cursor, lambda p: p["contractAddress"])
    return JSONResponse(page.body(lambda p: p))


def _map_rows(token_indexes: list[int] | None):  # type: ignore[no-untyped-def]
    def read(connection: Connection) -> tuple[list[Any], list[dict[str, Any]]]:
        query = select(token_maps).where(
            token_maps.c.resolved_at.is_not(None),
            token_maps.c.token_type.is_not(None),
            token_maps.c.contract_address.is_not(None),
            token_maps.c.symbol.is_not(None),
            token_maps.c.decimals.is_not(None),
        )
        if token_indexes is not None:
            query = query.where(token_maps.c.token_index.in_(token_indexes))
        return list(connection.execute(query.order_by(token_maps.c.token_index))), _price_rows(connection)

    return read


@router.get(
    "/token-maps/list",
    response_model=TokenMapList,
    response_model_exclude_none=False,
    responses=_ERRORS,
    summary="The token map: token index to contract, symbol, decimals, with price and image",
)
@cached(LIST_TTL_SECONDS, query_keys=MAP_QUERY_KEYS, etag=True)
async def token_maps_list(
    request: Request,
    state: ApiState = Depends(api_state),
    tokenIndexes: list[str] | SkipJsonSchema[None] = Query(
        None, description="Repeatable; decimal digits; at most 100 values.", json_schema_extra=_list_of(UINT_PATTERN)
    ),
    perPage: str | SkipJsonSchema[None] = Query(None, description=_PER_PAGE, json_schema_extra=_PER_PAGE_SCHEMA),
    cursor: str | SkipJsonSchema[None] = Query(None, description=_CURSOR),
) -> JSONResponse:
    errors = QueryErrors()
    values = strict_query(request, MAP_QUERY_KEYS, errors)
    per_page = parse_per_page(values, errors)
    page_cursor = single(values, "cursor", errors)
    texts = parse_list(values, "tokenIndexes", errors)
    indexes = [parse_uint(t, "tokenIndexes", errors) for t in texts or []]
    errors.raise_if_any()

    wanted = None if texts is None else sorted({i for i in indexes if i is not None})
    rows, prices = await read_warehouse(state.engine, _map_rows(wanted))
    by_address = _price_map(prices)
    default_image = state.settings.token_default_image_url
    items = []
    for row in rows:
        price = by_address.get(row.contract_address)
        item: dict[str, Any] = {
            "tokenIndex": row.token_index,
            "tokenType": row.token_type,
            "contractAddress": row.contract_address,
            "symbol": row.symbol,
            "decimals": row.decimals,
            "price": price["price"] if price else 0,
            "image": price["image"] if price else default_image,
        }
        if row.token_type in _NFT_TYPES:
            item["tokenId"] = int(row.token_id or 0)
        items.append(item)
    page = paginate_by_address(items, per_page, page_cursor, lambda i: i["contractAddress"])
    return JSONResponse(page.body(lambda i: i))
