"""The `deposits` asset (group `deposits`) and its check."""

from intmax_assets.defs.deposits.assets import deposits

__all__ = ["deposits"]
