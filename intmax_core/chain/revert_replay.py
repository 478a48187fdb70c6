"""Why a mined transaction reverted: its revert data, recovered after the fact.

A receipt says only "status 0". The revert data comes from re-executing the transaction against
the state it ran on, the state *before* it. Replaying it at its own block (the state after that
block) is wrong: transactions after it in the block may have changed what the call does, so the
replay can show another error, or none.

1. `debug_traceTransaction` with geth's `callTracer` (geth, anvil, reth, erigon; often disabled
   at providers): re-executes the transaction exactly where it was, and the top call frame's
   `output` is the revert data.
2. Otherwise `eth_call` at the parent block (blockNumber - 1): the state before the block. It
   misses what earlier transactions of the same block changed, so it is a fallback, not a proof;
   a replay that does not revert returns None.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from intmax_core.chain.errors import DecodedRevert, ErrorRegistry, revert_data
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.rpc_errors import RpcError

logger = logging.getLogger(__name__)

CALL_TRACER = {"tracer": "callTracer"}


def replay_revert(
    client: RpcClient, errors: ErrorRegistry, call: Mapping[str, str], receipt: Mapping[str, Any]
) -> DecodedRevert | None:
    """The decoded revert of the status-0 transaction of `receipt` (whose call object is `call`).

    None when neither a trace nor a replay shows revert data (e.g. it ran out of gas).
    Raises RpcUnavailable when the node cannot be reached.
    """
    traced = _trace_output(client, receipt["hash"])
    if traced is not None:
        return errors.decode(traced) if traced else None
    block = int(receipt["blockNumber"], 16)
    try:
        client.call("eth_call", [dict(call), hex(max(block - 1, 0))])
    except RpcError as error:
        data = revert_data(error.data)
        return errors.decode(data) if data is not None else None
    return None


def _trace_output(client: RpcClient, tx_hash: str) -> bytes | None:
    """The top frame's revert output (b"" for a failure without data), or None without a usable trace."""
    try:
        frame = client.call("debug_traceTransaction", [tx_hash, CALL_TRACER])
    except RpcError as error:
        # Method not found, tracer disabled, transaction unknown to a pruned node: fall back.
        logger.info("no call trace for %s (%s); replaying at the parent block", tx_hash, error.message)
        return None
    if not isinstance(frame, Mapping) or "type" not in frame:
        return None  # not a call frame (an unknown transaction, a tracer the node ignored)
    if not frame.get("error"):
        return None  # the trace says it succeeded, the receipt says otherwise: try the replay
    output = frame.get("output") or "0x"
    return bytes.fromhex(output[2:]) if isinstance(output, str) and output.startswith("0x") else b""
