"""The block-sync monitor: does the validity prover keep up with the Rollup contract on L2?

It compares the validity prover's `GET /block-number` (`{"blockNumber": n}`) with
`Rollup.getLatestBlockNumber()` on L2. In sync iff `rollup - prover < INTMAX_BLOCK_SYNC_MAX_DIFFERENCE`
(strict: a difference of exactly the maximum is out of sync; a prover ahead is in sync). Out of sync
raises one WARN alert, service "block-sync-monitor", with the originals' message:

    Block difference: {rollup - prover} validityProverBlock: {prover} rollupBlock: {rollup}

Its figures change with every Rollup block, so it is suppressed on the state ("behind"), not the
exact text: one message per INTMAX_ALERT_SUPPRESS_SECONDS while the prover stays behind.

Either side unreadable (HTTP error, timeout, a missing or non-integer `blockNumber`, an RPC failure)
is *unknown*, never "in sync" nor "difference 0": `BlockSyncUnknown` is raised, and the caller's
run fails so that the run-failure alert reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak
from sqlalchemy import Engine

from intmax_core.alerts import AlertLevel, DeliveryResult, notify
from intmax_core.chain.rpc import RpcClient, RpcError, RpcUnavailable
from intmax_core.config import Settings

SERVICE = "block-sync-monitor"
VALIDITY_PROVER_TIMEOUT_SECONDS = 10.0
GET_LATEST_BLOCK_NUMBER = "0x" + keccak(text="getLatestBlockNumber()")[:4].hex()
# Part of an unexpected answer quoted in an error: enough to see what came back.
QUOTED_BODY_CHARS = 200


class BlockSyncUnknown(RuntimeError):
    """One side of the comparison could not be read: the sync state is unknown."""


@dataclass(frozen=True)
class BlockSyncReading:
    validity_prover_block: int
    rollup_block: int
    max_difference: int

    @property
    def difference(self) -> int:
        """How far the prover is behind the Rollup (negative when it is ahead)."""
        return self.rollup_block - self.validity_prover_block

    @property
    def in_sync(self) -> bool:
        return self.difference < self.max_difference

    def alert_message(self) -> str:
        return (
            f"Block difference: {self.difference} validityProverBlock: {self.validity_prover_block} "
            f"rollupBlock: {self.rollup_block}"
        )


def read_validity_prover_block(
    base_url: str, *, timeout: float = VALIDITY_PROVER_TIMEOUT_SECONDS, client: httpx.Client | None = None
) -> int:
    """The validity prover's latest block number. Raises BlockSyncUnknown for anything but `{"blockNumber": int}`."""
    try:
        if client is None:
            response = httpx.get(f"{base_url}/block-number", timeout=timeout)
        else:
            response = client.get(f"{base_url}/block-number", timeout=timeout)
    except httpx.HTTPError as error:
        raise BlockSyncUnknown(f"validity prover unreachable: {type(error).__name__}") from None
    if response.status_code != 200:
        raise BlockSyncUnknown(f"validity prover answered HTTP {response.status_code} to GET /block-number")
    try:
        body = response.json()
    except ValueError:
        raise BlockSyncUnknown(
            f"validity prover answered non-JSON to GET /block-number: {response.text[:QUOTED_BODY_CHARS]!r}"
        ) from None
    number = body.get("blockNumber") if isinstance(body, dict) else None
    # bool is an int in Python; a float, a string or null is not a block number either.
    if type(number) is not int or number < 0:
        raise BlockSyncUnknown(
            f"validity prover's GET /block-number has no valid blockNumber: {str(body)[:QUOTED_BODY_CHARS]!r}"
        )
    return number


def read_rollup_block(client: RpcClient, rollup_address: str) -> int:
    """`Rollup.getLatestBlockNumber()` on L2. Raises BlockSyncUnknown when it cannot be read."""
    try:
        raw = client.call("eth_call", [{"to": rollup_address, "data": GET_LATEST_BLOCK_NUMBER}, "latest"])
        (number,) = decode(["uint256"], bytes.fromhex(str(raw).removeprefix("0x")))
    except (RpcError, RpcUnavailable) as error:
        raise BlockSyncUnknown(f"Rollup.getLatestBlockNumber() failed on L2: {error}") from None
    except (DecodingError, ValueError):
        raise BlockSyncUnknown(f"Rollup.getLatestBlockNumber() returned no number: {str(raw)[:66]!r}") from None
    return int(number)


def read_block_sync(settings: Settings, l2: RpcClient, *, http: httpx.Client | None = None) -> BlockSyncReading:
    """Both block numbers. The Rollup is read first: a block posted between the two reads can then only make
    the prover look more caught up, never raise a false alarm."""
    if not settings.validity_prover_url:
        raise BlockSyncUnknown("INTMAX_VALIDITY_PROVER_URL is not set")
    if not settings.rollup_address:
        raise BlockSyncUnknown("INTMAX_ROLLUP_ADDRESS is not set")
    rollup = read_rollup_block(l2, settings.rollup_address)
    prover = read_validity_prover_block(settings.validity_prover_url, client=http)
    return BlockSyncReading(prover, rollup, settings.block_sync_max_difference)


def check_block_sync(
    settings: Settings, l2: RpcClient, *, engine: Engine | None = None
) -> tuple[BlockSyncReading, DeliveryResult | None]:
    """Read both sides; when out of sync, raise the WARN alert. Returns the reading and the alert's result
    (None when in sync). Raises BlockSyncUnknown (and alerts nothing) when either side is unreadable."""
    reading = read_block_sync(settings, l2)
    if reading.in_sync:
        return reading, None
    # The figures move with every Rollup block, so the alert dedupes on the state, not the message:
    # one alert per suppression period while the prover stays behind.
    state = f"validity prover behind the Rollup by >= {reading.max_difference} blocks"
    return reading, notify(settings, AlertLevel.WARN, SERVICE, reading.alert_message(), engine=engine, dedupe_on=state)
