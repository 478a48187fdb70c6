"""ITX minting (group `minting`): the `minter_actions` asset and its daily schedule."""

from intmax_assets.defs.minting.assets import MINTER_ACTIONS_NOT_OVERDUE, build_minting_definitions

__all__ = ["MINTER_ACTIONS_NOT_OVERDUE", "build_minting_definitions"]
