"""Group `tokens`: the token map register (`token_maps` + sensor) and the price sync (`token_prices` + schedules)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from intmax_assets.defs.tokens.token_maps import build_token_maps
from intmax_assets.defs.tokens.token_prices import build_token_prices
from intmax_core.config import Settings


@dataclass(frozen=True)
class TokenDefinitions:
    assets: list[dg.AssetsDefinition]
    asset_checks: list[dg.AssetChecksDefinition]
    sensors: list[dg.SensorDefinition]
    schedules: list[dg.ScheduleDefinition]


def build_token_definitions(settings: Settings) -> TokenDefinitions:
    token_maps, token_maps_sensor = build_token_maps(settings)
    token_prices, freshness_check, schedules, first_sync_sensor = build_token_prices(settings)
    return TokenDefinitions(
        [token_maps, token_prices], [freshness_check], [token_maps_sensor, first_sync_sensor], schedules
    )
