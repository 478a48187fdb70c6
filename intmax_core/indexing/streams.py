"""The event streams: one per (chain, contract) that the services read (docs/protocol.md §5)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from intmax_core.chain import events as ev
from intmax_core.chain.events import EventSpec
from intmax_core.config import Settings


@dataclass(frozen=True)
class StreamSpec:
    name: str
    chain: str  # "l1" | "l2"
    contract: str  # settings key: <contract>_address / <contract>_deployed_block
    events: tuple[EventSpec, ...]
    description: str

    @property
    def topics0(self) -> list[str]:
        return [event.topic0 for event in self.events]


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        "l1_liquidity",
        "l1",
        "liquidity",
        (
            ev.DEPOSITED,
            ev.DEPOSITS_RELAYED,
            ev.DEPOSIT_CANCELED,
            ev.WITHDRAWAL_CLAIMABLE,
            ev.DIRECT_WITHDRAWAL_SUCCESSED,
            ev.DIRECT_WITHDRAWAL_FAILED,
            ev.CLAIMED_WITHDRAWAL,
        ),
        "Deposits, their relaying to L2, and withdrawal payouts and claims on L1 (Liquidity).",
    ),
    StreamSpec(
        "l1_scroll_messenger",
        "l1",
        "l1_scroll_messenger",
        (ev.SENT_MESSAGE,),
        "L1 -> L2 messages (deposit batches for the Rollup) sent through the L1 Scroll messenger.",
    ),
    StreamSpec(
        "l1_minter",
        "l1",
        "minter",
        (ev.MINTED, ev.TRANSFERRED_TO_LIQUIDITY),
        "ITX mints and transfers to Liquidity (Minter).",
    ),
    StreamSpec(
        "l2_rollup",
        "l2",
        "rollup",
        (ev.BLOCK_POSTED, ev.DEPOSITS_PROCESSED, ev.DEPOSIT_LEAF_INSERTED),
        "Posted INTMAX blocks and deposits inserted into the deposit tree (Rollup).",
    ),
    StreamSpec(
        "l2_withdrawal",
        "l2",
        "withdrawal",
        (ev.DIRECT_WITHDRAWAL_QUEUED, ev.CLAIMABLE_WITHDRAWAL_QUEUED),
        "Withdrawals accepted on L2 and queued for L1 (Withdrawal).",
    ),
    StreamSpec(
        "l2_block_builder_registry",
        "l2",
        "block_builder_registry",
        (ev.BLOCK_BUILDER_HEARTBEAT,),
        "Block builder heartbeats (BlockBuilderRegistry).",
    ),
    StreamSpec(
        "l2_scroll_messenger",
        "l2",
        "l2_scroll_messenger",
        (ev.SENT_MESSAGE,),
        "L2 -> L1 messages (withdrawal batches for Liquidity) sent through the L2 Scroll messenger.",
    ),
)
STREAMS_BY_NAME = {stream.name: stream for stream in STREAMS}


@dataclass(frozen=True)
class StreamSource:
    """Where a stream reads from, resolved from the settings.

    `start_block` is the first block the stream indexes: the deployment block, or the first block
    of INTMAX_INDEXING_START_DATE when that is later (`starting_at`). Coverage, cursor and holes
    are all counted from it.
    """

    stream: StreamSpec
    address: str
    deployed_block: int
    start_block: int

    def starting_at(self, first_block_of_start_date: int) -> StreamSource:
        return replace(self, start_block=max(self.deployed_block, first_block_of_start_date))


class StreamNotConfigured(ValueError):
    pass


def stream_source(settings: Settings, stream: StreamSpec) -> StreamSource:
    address = getattr(settings, f"{stream.contract}_address")
    if not address:
        variable = f"INTMAX_{stream.contract.upper()}_ADDRESS"
        raise StreamNotConfigured(f"stream {stream.name} needs {variable}")
    deployed_block = getattr(settings, f"{stream.contract}_deployed_block")
    return StreamSource(stream, address, deployed_block, deployed_block)
