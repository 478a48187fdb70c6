"""The withdrawal aggregator (group `withdrawals`): the `withdrawals` table advanced by the watcher
(statuses.py) and the collector's `withdrawal_groups` (groups.py)."""

from intmax_assets.defs.withdrawals.statuses import withdrawals_asset, withdrawals_watcher_sensor

__all__ = ["withdrawals_asset", "withdrawals_watcher_sensor"]
