"""Dagster resources, declared once and built from the pipeline settings."""

from __future__ import annotations

from functools import cached_property

import dagster as dg
from sqlalchemy import Engine

from intmax_core.chain.rpc import RpcClient
from intmax_core.warehouse.engine import make_engine


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database (SQLite file by default, PostgreSQL in production)."""

    url: str

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.url)


class ChainResource(dg.ConfigurableResource):
    """One EVM chain (L1 or L2): its RPC endpoints and how deep a block must be to count as final."""

    name: str
    rpc_urls: list[str]
    chain_id: int | None = None
    confirmations: int = 0

    def client(self) -> RpcClient:
        return RpcClient(self.rpc_urls, name=self.name)
