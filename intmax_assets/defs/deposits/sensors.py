"""The sensor that keeps `deposits` and `deposit_batches` current as the tail indexes new blocks.

Their inputs are the l1_liquidity and l2_rollup event tables (and the ledger, for which batches the
pipeline sent): when either stream's cursor moved, one run refreshes both (intmax_assets.defs.cursor_sensor).
"""

import dagster as dg

from intmax_assets.defs.cursor_sensor import build_cursor_sensor

deposits_refresh_sensor = build_cursor_sensor(
    "deposits_refresh_sensor",
    ("l1_liquidity", "l2_rollup"),
    [dg.AssetKey("deposits"), dg.AssetKey("deposit_batches")],
    "Refreshes deposits and deposit_batches when the l1_liquidity or l2_rollup cursor moved.",
)
