"""Event indexing in Dagster: one daily-partitioned asset per stream, a cursor-driven tail per chain, checks.

Two kinds of runs write a stream, one chunk transaction at a time under the stream's lock:
- the tail (`l1_indexing_sensor`, `l2_indexing_sensor`): indexes from the stream's cursor to the
  safe head, requested only when new final blocks exist and no run of the stream is in flight;
- partition runs, launched from the UI: re-index exactly one UTC day's final blocks (a
  backfill or a repair), replacing their rows.
"""

import dagster as dg

from intmax_assets.defs.indexing.assets import GROUP, asset_key, build_stream_asset, partitions
from intmax_assets.defs.indexing.sensors import build_indexing_sensor
from intmax_core.config import Settings
from intmax_core.indexing.streams import STREAMS

__all__ = [
    "GROUP",
    "asset_key",
    "build_indexing_definitions",
    "build_indexing_sensor",
    "build_stream_asset",
    "partitions",
]


def build_indexing_definitions(settings: Settings) -> tuple[list[dg.AssetsDefinition], list[dg.SensorDefinition]]:
    assets = [build_stream_asset(stream, settings) for stream in STREAMS]
    sensors = [
        build_indexing_sensor(chain, [s for s in STREAMS if s.chain == chain], settings) for chain in ("l1", "l2")
    ]
    return assets, sensors
