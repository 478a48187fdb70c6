"""Pure derivation of one deposit's row from its events (no database access)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from intmax_core.chain.hashing import deposit_hash, hex32
from intmax_core.warehouse.deposits_tables import DepositStatus
from intmax_core.warehouse.types import utc


@dataclass(frozen=True)
class Relay:
    """One DepositsRelayed: it covers every id up to `up_to_deposit_id` not covered by an earlier one."""

    up_to_deposit_id: int
    tx_hash: str
    block_number: int
    block_time: datetime


class RelayIndex:
    """The first relay covering an id: relayDeposits only accepts `front <= upTo` and moves the front
    past it, so relays are increasing in up_to, and the smallest up_to >= id is the first to cover id."""

    def __init__(self, relays: Sequence[Relay]) -> None:
        self._relays = sorted(relays, key=lambda r: (r.up_to_deposit_id, r.block_number))
        self._keys = [r.up_to_deposit_id for r in self._relays]

    def covering(self, deposit_id: int) -> Relay | None:
        at = bisect.bisect_left(self._keys, deposit_id)
        return self._relays[at] if at < len(self._relays) else None


def derive_row(
    deposited: Mapping[str, Any],
    relay: Relay | None,
    cancel: Mapping[str, Any] | None,
    leaf: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The `deposits` row (without updated_at) for one Deposited row and the events that concern it."""
    if cancel is not None:
        # The contract refuses to cancel a relayed deposit, so a canceled one never has a later stage.
        status, relay, leaf = DepositStatus.CANCELED, None, None
    elif leaf is not None:
        status = DepositStatus.PROCESSED
    elif relay is not None:
        status = DepositStatus.RELAYED
    else:
        status = DepositStatus.PENDING
    return {
        "deposit_id": deposited["deposit_id"],
        "depositor": deposited["sender"],
        "recipient_salt_hash": deposited["recipient_salt_hash"],
        "token_index": deposited["token_index"],
        "amount": deposited["amount"],
        "is_eligible": bool(deposited["is_eligible"]),
        "status": status.value,
        "deposit_hash": computed_hash(deposited),
        "deposit_tx_hash": deposited["tx_hash"],
        "deposit_block_number": deposited["block_number"],
        "deposited_at": utc(deposited["block_time"]),
        "relay_up_to_deposit_id": relay.up_to_deposit_id if relay else None,
        "relay_tx_hash": relay.tx_hash if relay else None,
        "relay_block_number": relay.block_number if relay else None,
        "relayed_at": utc(relay.block_time) if relay else None,
        "cancel_tx_hash": cancel["tx_hash"] if cancel else None,
        "cancel_block_number": cancel["block_number"] if cancel else None,
        "processed_tx_hash": leaf["tx_hash"] if leaf else None,
        "processed_block_number": leaf["block_number"] if leaf else None,
        "processed_at": utc(leaf["block_time"]) if leaf else None,
        "leaf_index": leaf["deposit_index"] if leaf else None,
    }


def computed_hash(deposited: Mapping[str, Any]) -> str:
    return hex32(
        deposit_hash(
            deposited["sender"],
            deposited["recipient_salt_hash"],
            deposited["amount"],
            deposited["token_index"],
            bool(deposited["is_eligible"]),
        )
    )
