"""The `builders` group: block_builders (from the indexed heartbeats) and block_builder_health."""

from intmax_assets.defs.builders.assets import build_builder_definitions

__all__ = ["build_builder_definitions"]
