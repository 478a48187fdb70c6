"""What the devnet Scroll bridge stand-in lists: the unclaimed L2->L1 messages, read from both chains.

The real bridge API is backed by Scroll's own indexer. The stand-in has none: every request reads
the mock messengers' logs over JSON-RPC (eth_getLogs from block 0), so it needs no warehouse and
stays right when a test reverts a chain with evm_revert (nothing is cached between requests).

A message is "unclaimed" until the L1 mock messenger emitted RelayedMessage for its hash
(docs/protocol.md §9, §10.8). FailedRelayedMessage does not count: the mock does not mark the hash
executed then, and the message may be relayed again, so it stays listed (with tx_status
TX_STATUS_FAILED_RELAYED and the failed L1 transaction as its counterpart).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from eth_abi import decode
from eth_hash.auto import keccak

from intmax_core.chain.hashing import scroll_message_hash

SENT_MESSAGE_TOPIC = "0x" + keccak(b"SentMessage(address,address,uint256,uint256,uint256,bytes)").hex()
RELAYED_MESSAGE_TOPIC = "0x" + keccak(b"RelayedMessage(bytes32)").hex()
FAILED_RELAYED_MESSAGE_TOPIC = "0x" + keccak(b"FailedRelayedMessage(bytes32)").hex()

# Scroll's bridge-history codes, as the real API reports them.
MESSAGE_TYPE_L2_SENT = 2
TOKEN_TYPE_NONE = 0  # a plain messenger call (INTMAX's processWithdrawals); no gateway token
TOKEN_TYPE_ETH = 1
TX_STATUS_SENT = 0
TX_STATUS_FAILED_RELAYED = 3
RPC_TIMEOUT_SECONDS = 10.0


class ChainReadError(RuntimeError):
    """A JSON-RPC read failed: the list is unknown, never "empty"."""


@dataclass(frozen=True)
class L2Message:
    tx_hash: str
    block_number: int
    log_index: int
    sender: str
    target: str
    value: int
    nonce: int
    message: bytes
    message_hash: str


def rpc(client: httpx.Client, url: str, method: str, params: list[object]) -> object:
    try:
        response = client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        # Never echo the URL: a real RPC URL carries its API key.
        raise ChainReadError(f"{method} failed ({type(error).__name__})") from error
    if "error" in body:
        raise ChainReadError(f"{method} failed: {body['error'].get('message', 'RPC error')}")
    return body["result"]


def _topic_address(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


def sent_messages(client: httpx.Client, l2_rpc_url: str, l2_messenger: str, sender: str) -> list[L2Message]:
    """SentMessage logs of the L2 mock messenger whose sender (the L2 contract that called
    sendMessage: Withdrawal, or a claim contract) is `sender`, oldest first."""
    logs = rpc(
        client,
        l2_rpc_url,
        "eth_getLogs",
        [
            {
                "address": l2_messenger,
                "fromBlock": "0x0",
                "toBlock": "latest",
                "topics": [SENT_MESSAGE_TOPIC, _topic_address(sender)],
            }
        ],
    )
    messages = []
    for log in logs:  # type: ignore[attr-defined]
        target = "0x" + log["topics"][2][-40:]
        value, nonce, _gas_limit, message = decode(
            ["uint256", "uint256", "uint256", "bytes"], bytes.fromhex(log["data"][2:])
        )
        messages.append(
            L2Message(
                tx_hash=log["transactionHash"],
                block_number=int(log["blockNumber"], 16),
                log_index=int(log["logIndex"], 16),
                sender=sender.lower(),
                target=target,
                value=value,
                nonce=nonce,
                message=message,
                message_hash="0x" + scroll_message_hash(sender, target, value, nonce, message).hex(),
            )
        )
    return sorted(messages, key=lambda m: (m.block_number, m.log_index))


@dataclass(frozen=True)
class L1Relays:
    relayed: frozenset[str]  # message hashes executed successfully on L1
    # message hash -> (L1 tx hash, block) of its latest FailedRelayedMessage
    failed: dict[str, tuple[str, int]]


def l1_relays(client: httpx.Client, l1_rpc_url: str, l1_messenger: str) -> L1Relays:
    logs = rpc(
        client,
        l1_rpc_url,
        "eth_getLogs",
        [
            {
                "address": l1_messenger,
                "fromBlock": "0x0",
                "toBlock": "latest",
                # topic0 OR-list: both outcomes in one call.
                "topics": [[RELAYED_MESSAGE_TOPIC, FAILED_RELAYED_MESSAGE_TOPIC]],
            }
        ],
    )
    relayed: set[str] = set()
    failed: dict[str, tuple[str, int]] = {}
    for log in logs:  # type: ignore[attr-defined]
        message_hash = log["topics"][1].lower()
        if log["topics"][0] == RELAYED_MESSAGE_TOPIC:
            relayed.add(message_hash)
        else:
            failed[message_hash] = (log["transactionHash"], int(log["blockNumber"], 16))
    return L1Relays(frozenset(relayed), failed)


def block_timestamps(client: httpx.Client, l2_rpc_url: str, numbers: set[int]) -> dict[int, int]:
    timestamps = {}
    for number in sorted(numbers):
        block = rpc(client, l2_rpc_url, "eth_getBlockByNumber", [hex(number), False])
        if block is None:  # reverted between the two reads
            raise ChainReadError(f"L2 block {number} vanished while reading")
        timestamps[number] = int(block["timestamp"], 16)  # type: ignore[index]
    return timestamps


def fake_proof(message: L2Message) -> tuple[str, str]:
    """(batch_index, merkle_proof) of a claimable message. The mock L1 messenger ignores the proof;
    these are deterministic non-trivial values so a relayer that drops or alters them shows up in a
    test that compares calldata, while the mock still accepts them."""
    return str(message.block_number), "0x" + keccak(bytes.fromhex(message.message_hash[2:])).hex()


def result_entry(
    message: L2Message, timestamp: int, failed_relay: tuple[str, int] | None, claimable: bool
) -> dict[str, object]:
    """One entry of `data.results`, with every field the real API returns for an L2->L1 message."""
    batch_index, merkle_proof = fake_proof(message) if claimable else ("", "")
    counterpart_hash, counterpart_block = failed_relay or ("", 0)
    return {
        "hash": message.tx_hash,
        "replay_tx_hash": "",
        "refund_tx_hash": "",
        "message_hash": message.message_hash,
        "token_type": TOKEN_TYPE_ETH if message.value else TOKEN_TYPE_NONE,
        "token_ids": [],
        "token_amounts": [str(message.value)] if message.value else [],
        "message_type": MESSAGE_TYPE_L2_SENT,
        "l1_token_address": "",
        "l2_token_address": "",
        "block_number": message.block_number,
        "tx_status": TX_STATUS_FAILED_RELAYED if failed_relay else TX_STATUS_SENT,
        "counterpart_chain_tx": {"hash": counterpart_hash, "block_number": counterpart_block},
        "claim_info": {
            "from": message.sender,
            "to": message.target,
            "value": str(message.value),
            "nonce": str(message.nonce),
            "message": "0x" + message.message.hex(),
            "proof": {"batch_index": batch_index, "merkle_proof": merkle_proof},
            "claimable": claimable,
        },
        "block_timestamp": timestamp,
        "batch_deposit_fee": "",
    }


def unclaimed_withdrawals(
    client: httpx.Client,
    *,
    l1_rpc_url: str,
    l2_rpc_url: str,
    l1_messenger: str,
    l2_messenger: str,
    sender: str,
    not_claimable: set[str],
) -> list[dict[str, object]]:
    """Every unclaimed message of `sender`, newest first (the real API's order)."""
    relays = l1_relays(client, l1_rpc_url, l1_messenger)
    messages = [
        m for m in sent_messages(client, l2_rpc_url, l2_messenger, sender) if m.message_hash not in relays.relayed
    ]
    timestamps = block_timestamps(client, l2_rpc_url, {m.block_number for m in messages})
    return [
        result_entry(
            m, timestamps[m.block_number], relays.failed.get(m.message_hash), m.message_hash not in not_claimable
        )
        for m in reversed(messages)
    ]
