"""Dagster resources, declared once and built from the pipeline settings."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from intmax_core.chain.rpc import RpcClient
from intmax_core.warehouse.engine import shared_engine


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database (SQLite file by default, PostgreSQL in production)."""

    url: str

    @property
    def engine(self) -> Engine:
        # Dagster builds a new resource instance for every sensor tick and run; the engine (and its
        # pool) is the process's one for this URL, not the instance's, so ticks do not pile up pools.
        return shared_engine(self.url)


class ChainResource(dg.ConfigurableResource):
    """One EVM chain (L1 or L2): its RPC endpoints and how deep a block must be to count as final."""

    name: str
    rpc_urls: list[str]
    chain_id: int | None = None
    confirmations: int = 0
    log_range: int = 2_000
    max_log_range: int = 10_000
    max_fee_per_gas_gwei: float | None = None

    @property
    def max_fee_per_gas_wei(self) -> int | None:
        return None if self.max_fee_per_gas_gwei is None else int(self.max_fee_per_gas_gwei * 10**9)

    def client(self) -> RpcClient:
        if not self.rpc_urls:
            raise ChainNotConfigured(f"no RPC URL for {self.name}: set INTMAX_{self.name}_RPC_URLS or run the devnet")
        return RpcClient(self.rpc_urls, name=self.name)

    def verified_chain_id(self, client: RpcClient) -> int:
        """The node's chain id, which must be the configured one: indexing the wrong chain is worse than failing."""
        actual = client.chain_id()
        if self.chain_id is not None and actual != self.chain_id:
            raise ChainNotConfigured(
                f"{self.name} RPC serves chain {actual}, but INTMAX_{self.name}_CHAIN_ID is {self.chain_id}"
            )
        return actual

    def fetcher_options(self) -> dict[str, int]:
        return {"initial_range": self.log_range, "max_range": self.max_log_range}


class ChainNotConfigured(RuntimeError):
    pass
