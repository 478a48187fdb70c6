"""The manual replay tool: re-send a stuck L1->L2 deposit message with a gas limit that fits it.

A deposit batch's Scroll message can fail on L2 (out of gas) or never be executed. The L1 Scroll
messenger's `replayMessage(from, to, value, messageNonce, message, newGasLimit, refundAddress)`
queues the same message again with a new gas limit. Given the L1 transaction of the relay, this
finds the messenger's `SentMessage` whose sender is Liquidity in its receipt, sizes the new gas
limit from the message's own hash count (the relay formula of intmax_core.deposits.relay_plan),
and sends the replay through the transaction sender from the deposit relayer's wallet (wallet 1,
also the refund address), with the relay's L2 fee. The idempotency key is the message nonce and
the operator's attempt number, so a replay is sent once however often the command is repeated,
and a deliberate second replay of the same message needs `--attempt 2`.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode

from intmax_core.chain import events as ev
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.sender import TransactionSender, TxOutcome
from intmax_core.deposits.batches import hashes_in
from intmax_core.deposits.relay_plan import relay_gas_limit

PURPOSE = "deposit_replay"
REPLAY_MESSAGE = bytes.fromhex("55004105")  # replayMessage(address,address,uint256,uint256,bytes,uint32,address)


class ReplayError(ValueError):
    """The transaction holds no deposit message to replay (the message names what is wrong)."""


@dataclass(frozen=True)
class DepositMessage:
    sender: str
    target: str
    value: int
    message_nonce: int
    gas_limit: int
    message: bytes

    @property
    def hashes(self) -> int:
        return hashes_in(self.message)

    @property
    def new_gas_limit(self) -> int:
        return relay_gas_limit(self.hashes)


def find_deposit_message(client: RpcClient, tx_hash: str, l1_messenger: str, liquidity: str) -> DepositMessage:
    receipt = client.call("eth_getTransactionReceipt", [tx_hash])
    if receipt is None:
        raise ReplayError(f"L1 transaction {tx_hash} is unknown to the node (or not mined yet)")
    for log in receipt.get("logs") or []:
        topics = log.get("topics") or []
        if str(log.get("address", "")).lower() != l1_messenger.lower() or not topics:
            continue
        if topics[0] != ev.SENT_MESSAGE.topic0:
            continue
        fields = ev.SENT_MESSAGE.decode(log)
        if fields["sender"] != liquidity.lower():
            continue
        return DepositMessage(
            sender=fields["sender"],
            target=fields["target"],
            value=fields["value"],
            message_nonce=fields["message_nonce"],
            gas_limit=fields["gas_limit"],
            message=bytes(fields["message"]),
        )
    raise ReplayError(f"L1 transaction {tx_hash} has no SentMessage from Liquidity: it is not a deposit relay")


def replay_calldata(message: DepositMessage, refund_address: str) -> bytes:
    return REPLAY_MESSAGE + encode(
        ["address", "address", "uint256", "uint256", "bytes", "uint32", "address"],
        [
            message.sender,
            message.target,
            message.value,
            message.message_nonce,
            message.message,
            message.new_gas_limit,
            refund_address,
        ],
    )


def replay_deposit_message(
    sender: TransactionSender, message: DepositMessage, l1_messenger: str, fee_wei: int, attempt: int = 1
) -> TxOutcome:
    key = f"{message.message_nonce}#{attempt}"
    calldata = replay_calldata(message, sender.signer.address)
    return sender.send(PURPOSE, key, l1_messenger, calldata, value=fee_wei)
