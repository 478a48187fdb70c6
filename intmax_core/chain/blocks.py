"""Block headers by number: hash, timestamp and parent hash, fetched in JSON-RPC batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from intmax_core.chain.rpc import RpcClient


class BlockNotFound(LookupError):
    """The node has no block with this number (beyond its head, or a lagging node behind a load balancer)."""


class BlockHeader(NamedTuple):
    hash: str  # lowercase 0x hex, as the node returned it
    timestamp: int  # seconds since the epoch
    parent_hash: str


def get_block_headers(client: RpcClient, numbers: Iterable[int]) -> dict[int, BlockHeader]:
    """Headers of the distinct block `numbers`, via batched eth_getBlockByNumber(n, false).

    The client splits the calls into batches of its `max_batch_size` (100 by default).
    Raises BlockNotFound if any block does not exist yet.
    """
    wanted = sorted(set(numbers))
    blocks = client.batch([("eth_getBlockByNumber", [hex(number), False]) for number in wanted])
    headers: dict[int, BlockHeader] = {}
    for number, block in zip(wanted, blocks, strict=True):
        if block is None:
            raise BlockNotFound(f"{client.name} has no block {number}")
        headers[number] = BlockHeader(block["hash"], int(block["timestamp"], 16), block["parentHash"])
    return headers


def block_hash_at(client: RpcClient, number: int) -> str:
    """The hash of block `number`. Raises BlockNotFound if it does not exist yet."""
    block = client.call("eth_getBlockByNumber", [hex(number), False])
    if block is None:
        raise BlockNotFound(f"{client.name} has no block {number}")
    return block["hash"]
