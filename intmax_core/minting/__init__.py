"""ITX minting: when the token manager calls the Minter's `mint()` and `transferToLiquidity(amount)`.

- `schedule`: the pure decision (is an action due, for which period) over UTC calendar days.
- `history`: when each action last happened, from the indexed Minter events, the actions this
  pipeline recorded, and the few blocks the index has not reached yet.
- `executor`: decides and sends each due action through the transaction sender, recording it in
  the `minter_actions` table.
"""
