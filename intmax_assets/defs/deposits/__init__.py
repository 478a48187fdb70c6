"""The deposits domain (group `deposits`): the `deposits` and `deposit_batches` assets and checks,
the relay job and sensor (relay.py), and the sensor that keeps the assets current (sensors.py)."""

from intmax_assets.defs.deposits.assets import deposits
from intmax_assets.defs.deposits.batches import deposit_batches

__all__ = ["deposit_batches", "deposits"]
