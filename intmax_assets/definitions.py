"""The Dagster code location: `defs`, with resources chosen from the pipeline settings."""

from __future__ import annotations

import dagster as dg

from intmax_assets.defs import withdrawals
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.config import Settings, load_settings


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "l1": ChainResource(
            name="L1",
            rpc_urls=settings.l1_rpc_urls,
            chain_id=settings.l1_chain_id,
            confirmations=settings.l1_confirmations,
        ),
        "l2": ChainResource(
            name="L2",
            rpc_urls=settings.l2_rpc_urls,
            chain_id=settings.l2_chain_id,
            confirmations=settings.l2_confirmations,
        ),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([withdrawals]),
        resources=build_resources(settings),
    )


defs = build_definitions(load_settings())
