"""The devnet's mock Scroll relayers (the seeds' mock-l1-to-l2-relayer and mock-l2-to-l1-relayer).

On real Scroll, L1->L2 messages are delivered by Scroll itself and L2->L1 messages are relayed
with a Merkle proof once their batch is finalised. The devnet's mock messengers need someone to
deliver both ways: these relayers read the indexed `SentMessage` rows of one chain and deliver each
message to the other chain's mock messenger, unchanged, exactly once, in nonce order, through
the transaction sender (whose ledger is what makes "exactly once" survive crashes and re-runs).

Queue order and failures. Messages go out in nonce order, and what stops the queue depends on
the failure:

- already done ("Message was already successfully executed"): the message counts as delivered.
- parked (a revert that will not go away by itself, such as the L2 messenger's "Failed to execute
  message", or an L1 relay whose target call failed: FailedRelayedMessage in the receipt): the
  message is skipped and the next one goes out. A parked message needs an operator, who may take
  any time; holding every later deposit or withdrawal hostage to it is worse than delivering it
  out of order after it is re-queued (`intmax tx requeue`). Parked messages are not "waiting"
  for the sensors either, so they do not start a run every tick.
- anything retryable (a node rejection, max attempts without a receipt, an outcome the chain
  could not yet tell): the run stops and later messages wait. Such failures are expected to
  clear by themselves on a later run, and until then nonce order is kept.

Replays: the mock L1 messenger's `replayMessage` re-sends a message under a new nonce (real Scroll
re-queues the same one, which L2 executes at most once). A deposit message whose content (target,
value, payload) was already delivered under another nonce is therefore recorded as already done
(`settled`) without sending, so a replay never inserts the same deposits twice.

Batching (docs/protocol.md §6): the originals re-batched deposits by 450 and
withdrawals by 100 items. Those are the contracts' own per-message limits (Liquidity RELAY_LIMIT
= 450 hashes, Withdrawal RELAY_LIMIT = 100 items), so a message never needs splitting; relaying
it byte-identical is also what the real messenger's proof requires.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from eth_abi import decode, encode
from eth_hash.auto import keccak
from sqlalchemy import Connection, Engine, select

from intmax_core.chain.sender import MESSAGE_ALREADY_EXECUTED, ReceiptCheck, TransactionSender, TxOutcome
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.ledger import TransactionStatus, transactions

log = logging.getLogger(__name__)

PROCESS_DEPOSITS = bytes.fromhex("f03efa37")  # Rollup.processDeposits(uint256,bytes32[])
PROCESS_WITHDRAWALS = bytes.fromhex(
    "9d6a54cb"
)  # Liquidity.processWithdrawals((address,uint32,uint256,bytes32)[],bytes32[])
RELAY_MESSAGE = bytes.fromhex("8ef1332e")  # L2 messenger relayMessage(address,address,uint256,uint256,bytes)
# L1 messenger relayMessageWithProof(address,address,uint256,uint256,bytes,(uint256,bytes))
RELAY_MESSAGE_WITH_PROOF = bytes.fromhex("c311b6fc")
FAILED_RELAYED_MESSAGE_TOPIC = "0x" + keccak(b"FailedRelayedMessage(bytes32)").hex()
# The mock ignores the proof; the originals sent batch index 0 and empty Merkle proof bytes.
DUMMY_PROOF = (0, b"")

L1_TO_L2 = "mock_relay_l1_to_l2"
L2_TO_L1 = "mock_relay_l2_to_l1"
# Ledger states in which a message no longer waits for this relayer: delivered, or parked for an
# operator (and the pre-0005 final `reverted`, which is as stuck as a parked row).
NOT_WAITING = (
    TransactionStatus.CONFIRMED,
    TransactionStatus.SETTLED,
    TransactionStatus.PARKED,
    TransactionStatus.REVERTED,
)
FAILED_RELAYED_MESSAGE = "FailedRelayedMessage"


class RelayError(RuntimeError):
    pass


@dataclass(frozen=True)
class SentMessage:
    chain_id: int
    block_number: int
    log_index: int
    tx_hash: str
    sender: str
    target: str
    value: int
    message_nonce: int
    message: bytes  # bytes from both backends (LargeBinary)

    @property
    def content(self) -> tuple[str, int, bytes]:
        """What the message does, whatever its nonce (a replay repeats it under a new one)."""
        return (self.target, int(self.value), bytes(self.message))

    @property
    def idempotency_key(self) -> str:
        # A messenger's nonce identifies its message for good (the mock counts from 0, per chain).
        return f"{self.chain_id}:{self.message_nonce}"


@dataclass
class RelayReport:
    relayed: list[int] = field(default_factory=list)  # message nonces delivered by this run
    already_done: int = 0
    parked: list[tuple[int, str]] = field(default_factory=list)  # skipped: waits for an operator
    failed: list[tuple[int, str]] = field(default_factory=list)  # retryable: later messages wait


def pending_messages(
    connection: Connection, purpose: str, chain_id: int, messenger: str, sender: str | None = None
) -> list[SentMessage]:
    """Indexed SentMessage rows of `messenger` waiting for delivery (not delivered, not parked), in nonce order."""
    table = EVENT_TABLES["SentMessage"]
    query = select(table).where(table.c.chain_id == chain_id, table.c.address == messenger)
    if sender is not None:
        query = query.where(table.c.sender == sender)
    settled_or_parked = set(
        connection.execute(
            select(transactions.c.idempotency_key).where(
                transactions.c.purpose == purpose, transactions.c.status.in_(NOT_WAITING)
            )
        ).scalars()
    )
    names = [f.name for f in fields(SentMessage)]
    rows = [SentMessage(*(r[name] for name in names)) for r in connection.execute(query).mappings()]
    return sorted((m for m in rows if m.idempotency_key not in settled_or_parked), key=lambda m: m.message_nonce)


def check_deposit_message(connection: Connection, message: SentMessage, liquidity: str) -> int:
    """The originals' decode mode: the message must be processDeposits(last, hashes), and exactly
    one DepositsRelayed(upToDepositId = last) must be in the same L1 block. Returns `last`."""
    if message.message[:4] != PROCESS_DEPOSITS:
        raise RelayError(f"message {message.message_nonce} is not processDeposits")
    last, _hashes = decode(["uint256", "bytes32[]"], message.message[4:])
    relayed = EVENT_TABLES["DepositsRelayed"]
    same_relay = (
        relayed.c.chain_id == message.chain_id,
        relayed.c.address == liquidity,
        relayed.c.up_to_deposit_id == last,
    )
    matches = connection.execute(
        select(relayed.c.log_index).where(*same_relay, relayed.c.block_number == message.block_number)
    ).all()
    if len(matches) == 1:
        return last
    # A replay (`intmax deposits replay`): the same message as a relay made earlier, re-sent alone.
    replayed = connection.execute(select(relayed.c.message).where(*same_relay)).scalars()
    if not matches and any(bytes(earlier) == message.message for earlier in replayed):
        return last
    raise RelayError(
        f"message {message.message_nonce}: expected one DepositsRelayed(upTo={last}) "
        f"in L1 block {message.block_number}, found {len(matches)}"
    )


def check_withdrawal_message(message: SentMessage) -> int:
    """The message must be processWithdrawals(withdrawals, hashes); returns its item count."""
    if message.message[:4] != PROCESS_WITHDRAWALS:
        raise RelayError(f"message {message.message_nonce} is not processWithdrawals")
    direct, claimable = decode(["(address,uint32,uint256,bytes32)[]", "bytes32[]"], message.message[4:])
    return len(direct) + len(claimable)


def _relay_message_call(m: SentMessage) -> bytes:
    return RELAY_MESSAGE + encode(
        ["address", "address", "uint256", "uint256", "bytes"], [m.sender, m.target, m.value, m.message_nonce, m.message]
    )


def _relay_with_proof_call(m: SentMessage) -> bytes:
    return RELAY_MESSAGE_WITH_PROOF + encode(
        ["address", "address", "uint256", "uint256", "bytes", "(uint256,bytes)"],
        [m.sender, m.target, m.value, m.message_nonce, m.message, DUMMY_PROOF],
    )


def _deliver(
    report: RelayReport,
    sender: TransactionSender,
    purpose: str,
    message: SentMessage,
    to: str,
    calldata: bytes,
    receipt_check: ReceiptCheck | None = None,
) -> TxOutcome:
    """Send one message and note the outcome; the queue goes on unless it is a retryable failure."""
    outcome = sender.send(
        purpose,
        message.idempotency_key,
        to,
        calldata,
        success_reverts={MESSAGE_ALREADY_EXECUTED},
        receipt_check=receipt_check,
    )
    if outcome.status == TransactionStatus.SETTLED:
        report.already_done += 1
    elif outcome.ok:
        report.relayed.append(message.message_nonce)
    elif outcome.parked:
        report.parked.append((message.message_nonce, outcome.error_name or outcome.parked_reason or "parked"))
    else:
        report.failed.append((message.message_nonce, outcome.error_name or outcome.last_error or str(outcome.status)))
    return outcome


def _goes_on(outcome: TxOutcome) -> bool:
    return outcome.ok or outcome.parked


def relay_l1_to_l2(
    engine: Engine, sender: TransactionSender, *, l1_chain_id: int, l1_messenger: str, liquidity: str, l2_messenger: str
) -> RelayReport:
    """Deliver Liquidity's L1 messages (deposit batches) to the L2 mock messenger."""
    report = RelayReport()
    with engine.connect() as connection:
        messages = pending_messages(connection, L1_TO_L2, l1_chain_id, l1_messenger, sender=liquidity)
        for message in messages:
            check_deposit_message(connection, message, liquidity)
        delivered = delivered_payloads(connection, l1_chain_id, l1_messenger, liquidity)
    for message in messages:
        calldata = _relay_message_call(message)
        if message.content in delivered:
            # Real Scroll executes a message once however often it is replayed; the mock's replay
            # carries a new nonce, so the payload is what says it was delivered already.
            reason = "the same deposit message was already delivered (a replay)"
            sender.record_already_done(L1_TO_L2, message.idempotency_key, l2_messenger, calldata, reason)
            report.already_done += 1
            continue
        outcome = _deliver(report, sender, L1_TO_L2, message, l2_messenger, calldata)
        if outcome.ok:
            delivered.add(message.content)
        if not _goes_on(outcome):
            break  # a retryable failure: later messages wait (see the module docstring)
    return report


def delivered_payloads(
    connection: Connection, chain_id: int, messenger: str, liquidity: str
) -> set[tuple[str, int, bytes]]:
    """What Liquidity's messages already delivered to L2 say (`SentMessage.content`; ledger rows done)."""
    table = EVENT_TABLES["SentMessage"]
    done = set(
        connection.execute(
            select(transactions.c.idempotency_key).where(
                transactions.c.purpose == L1_TO_L2,
                transactions.c.status.in_((TransactionStatus.CONFIRMED, TransactionStatus.SETTLED)),
            )
        ).scalars()
    )
    rows = connection.execute(
        select(table.c.message_nonce, table.c.target, table.c.value, table.c.message).where(
            table.c.chain_id == chain_id, table.c.address == messenger, table.c.sender == liquidity
        )
    )
    return {
        (target, int(value), bytes(message)) for nonce, target, value, message in rows if f"{chain_id}:{nonce}" in done
    }


def relay_l2_to_l1(
    engine: Engine, sender: TransactionSender, *, l2_chain_id: int, l2_messenger: str, l1_messenger: str
) -> RelayReport:
    """Deliver the L2 messages (withdrawal batches) to the L1 mock messenger.

    The L1 mock does not revert when the target call fails: it emits FailedRelayedMessage and the
    transaction succeeds. The receipt is checked for it, and such a message is parked (with error
    FailedRelayedMessage), not recorded as delivered."""
    report = RelayReport()
    with engine.connect() as connection:
        messages = pending_messages(connection, L2_TO_L1, l2_chain_id, l2_messenger)
    check = failed_relay_check(l1_messenger)
    for message in messages:
        check_withdrawal_message(message)
        outcome = _deliver(report, sender, L2_TO_L1, message, l1_messenger, _relay_with_proof_call(message), check)
        if not _goes_on(outcome):
            break
    return report


def failed_relay_check(l1_messenger: str) -> ReceiptCheck:
    """A receipt check: the L1 messenger's FailedRelayedMessage means the target call failed."""
    messenger = l1_messenger.lower()

    def check(receipt: Mapping[str, Any]) -> str | None:
        for log in receipt.get("logs") or []:
            topics = log.get("topics") or []
            emitter = str(log.get("address", "")).lower()
            if emitter == messenger and topics and topics[0] == FAILED_RELAYED_MESSAGE_TOPIC:
                return FAILED_RELAYED_MESSAGE
        return None

    return check
