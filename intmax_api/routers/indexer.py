"""The indexer API: the builders wallets may use, their count and registration, and the proxy's meta.

- `GET /v1/indexer/builders`: active builders picked by INTMAX_BUILDER_SELECTION_MODE
  (intmax_core.builders.selection), `[{"address", "url"}]`, cached 120 s under the one fixed key
  `block_builder_indexer_list`: every client sees the same pick until it expires, and the cache
  validator (intmax_api.builder_cache) removes builders that stop being healthy meanwhile.
- `GET /v1/indexer/builders/meta`: `{"total": <active builders>}`, cached 60 s.
- `GET /v1/indexer/builders/registration/{address}`: `{"registered", "ready"}`, cached 60 s per path;
  an address that is not 0x + 40 hex digits is 400 VALIDATION_ERROR "Invalid Ethereum address format".
- `GET /v1/proxy/meta`: what builder proxies need (network, versions, fee cap), cached 60 s with an
  ETag. The FRP token is a secret: it is served only when INTMAX_PROXY_FRP_TOKEN_PUBLIC says its
  owners mean it to be public (the original always served it); otherwise `token` is "".
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from intmax_api.cache import DETAIL_TTL_SECONDS, CachedRoute, cached
from intmax_api.dependencies import ApiState, api_state
from intmax_api.query import ADDRESS_PATTERN, validation_error
from intmax_api.routers.tokens import ValidationFailure
from intmax_api.warehouse_reads import read_warehouse
from intmax_core.builders import store
from intmax_core.builders.selection import SelectionPolicy, select_builders
from intmax_core.config import Settings

router = APIRouter(tags=["indexer"], route_class=CachedRoute)
BUILDER_LIST_KEY = "block_builder_indexer_list"
BUILDER_LIST_TTL_SECONDS = 120
ADDRESS = re.compile(r"^0x[a-fA-F0-9]{40}$")


class Builder(BaseModel):
    address: str = Field(description="Builder address (lowercase).")
    url: str = Field(description="Base URL from the builder's latest heartbeat.")


class BuildersMeta(BaseModel):
    total: int = Field(description="Active builders.")


class Registration(BaseModel):
    registered: bool = Field(description="A heartbeat of this builder has been indexed.")
    ready: bool = Field(description="The builder is active (passed the latest health check).")


class ProxyMeta(BaseModel):
    targetNetwork: str
    version: str = Field(description="The builder release to run.")
    domain: str
    token: str = Field(description="The FRP token, only if INTMAX_PROXY_FRP_TOKEN_PUBLIC; otherwise empty.")
    minVersion: str = Field(description="Lowest builder version the health check accepts.")
    maxFee: str = Field(description="Largest fee amount the health check accepts (decimal string).")


def selection_policy(settings: Settings) -> SelectionPolicy:
    return SelectionPolicy(
        mode=settings.builder_selection_mode,
        count=settings.block_builder_indexer_count,
        allowlist=frozenset(settings.block_builder_allowlist),
        min_allowlist_count=settings.block_builder_min_allowlist_count,
        allowlist_probability=settings.allowlist_block_builder_possibilities,
    )


@router.get("/indexer/builders", response_model=list[Builder], summary="Active builders to use (cached pick)")
@cached(BUILDER_LIST_TTL_SECONDS, fixed_key=BUILDER_LIST_KEY)
async def builders(state: ApiState = Depends(api_state)) -> list[Builder]:
    active = await read_warehouse(state.engine, store.active_builders)
    picked = select_builders(active, selection_policy(state.settings))
    return [Builder(address=address, url=url) for address, url in picked]


@router.get("/indexer/builders/meta", response_model=BuildersMeta, summary="How many builders are active")
@cached(DETAIL_TTL_SECONDS)
async def builders_meta(state: ApiState = Depends(api_state)) -> BuildersMeta:
    active = await read_warehouse(state.engine, store.active_builders)
    return BuildersMeta(total=len(active))


@router.get(
    "/indexer/builders/registration/{address}",
    response_model=Registration,
    responses={400: {"model": ValidationFailure, "description": "Invalid Ethereum address format"}},
    summary="Whether a builder is known and active",
)
@cached(DETAIL_TTL_SECONDS)
async def builder_registration(
    address: str = Path(
        description="Builder address (0x + 40 hex digits).", json_schema_extra={"pattern": ADDRESS_PATTERN}
    ),
    state: ApiState = Depends(api_state),
) -> Registration:
    if not ADDRESS.match(address):
        raise validation_error("address", "Invalid Ethereum address format")
    registered, ready = await read_warehouse(state.engine, lambda c: store.registration(c, address.lower()))
    return Registration(registered=registered, ready=ready)


@router.get("/proxy/meta", response_model=ProxyMeta, summary="What builder proxies need to know")
@cached(DETAIL_TTL_SECONDS, etag=True)
async def proxy_meta(state: ApiState = Depends(api_state)) -> ProxyMeta:
    settings = state.settings
    token = settings.proxy_frp_token.get_secret_value() if settings.proxy_frp_token else ""
    return ProxyMeta(
        targetNetwork=settings.builder_target_network or settings.network,
        version=settings.block_builder_version,
        domain=settings.proxy_domain,
        token=token if settings.proxy_frp_token_public else "",
        minVersion=settings.block_builder_required_version,
        maxFee=str(settings.block_builder_max_fee_amount),
    )
