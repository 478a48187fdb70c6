"""The messenger relayer: claim L2->L1 withdrawal messages on L1 from the Scroll bridge API.

Scroll does not execute L2->L1 messages by itself: once a message's batch is finalised, someone
calls the L1 messenger's `relayMessageWithProof(from, to, value, nonce, message, (batchIndex,
merkleProof))`. The bridge API lists the unclaimed messages by their L2 sender (the Withdrawal
contract) with the proof (docs/protocol.md §13). Each claimable message to Liquidity is relayed
unchanged (the original re-batched them, which breaks the proof), through the transaction sender
from wallet 2 with a fixed gas limit of 4,400,000 and EIP-1559 fees; idempotency key = the message
hash, so a message is claimed once however often it is listed. "Message was already successfully
executed" means someone claimed it first (settled). A relay whose receipt shows
FailedRelayedMessage (the target call failed on L1) is parked, not recorded as delivered.

The API is paged (100 per page); an answer whose errmsg says "i/o timeout" is transient and the
page is asked again, at most `attempts` times (the original retried it forever); any other error
fails the run, so the next run starts over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_abi import encode

from intmax_core.chain.hashing import hex32, scroll_message_hash
from intmax_core.chain.sender import MESSAGE_ALREADY_EXECUTED, ReceiptCheck, TransactionSender, TxOutcome
from intmax_core.relaying.mock_relayers import FAILED_RELAYED_MESSAGE, RELAY_MESSAGE_WITH_PROOF, failed_relay_check

PURPOSE = "withdrawal_message_relay"
UNCLAIMED_PATH = "/api/l2/unclaimed/withdrawals"
PAGE_SIZE = 100
RELAY_GAS_LIMIT = 4_400_000  # the original messenger-relayer's fixed gas
TRANSIENT_API_ERROR = "i/o timeout"


class BridgeApiError(RuntimeError):
    pass


@dataclass(frozen=True)
class ClaimableMessage:
    sender: str
    target: str
    value: int
    nonce: int
    message: bytes
    batch_index: int
    merkle_proof: bytes

    @property
    def message_hash(self) -> str:
        return hex32(scroll_message_hash(self.sender, self.target, self.value, self.nonce, self.message))

    def calldata(self) -> bytes:
        return RELAY_MESSAGE_WITH_PROOF + encode(
            ["address", "address", "uint256", "uint256", "bytes", "(uint256,bytes)"],
            [self.sender, self.target, self.value, self.nonce, self.message, (self.batch_index, self.merkle_proof)],
        )


@dataclass
class MessengerReport:
    listed: int = 0
    relayed: list[str] = field(default_factory=list)
    already_done: int = 0
    parked: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_claimable: int = 0
    not_for_liquidity: int = 0


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def parse_result(result: Mapping[str, Any]) -> ClaimableMessage | None:
    """The message to relay, or None when the API says it is not claimable yet."""
    info = result.get("claim_info") or {}
    if not info.get("claimable"):
        return None
    proof = info.get("proof") or {}
    try:
        return ClaimableMessage(
            sender=str(info["from"]).lower(),
            target=str(info["to"]).lower(),
            value=int(info["value"]),
            nonce=int(info["nonce"]),
            message=_hex_bytes(str(info["message"])),
            batch_index=int(proof["batch_index"]),
            merkle_proof=_hex_bytes(str(proof.get("merkle_proof") or "0x")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BridgeApiError(f"malformed claim_info in the bridge API answer: {error}") from None


class BridgeApi:
    def __init__(
        self, base_url: str, *, attempts: int, retry_pause_seconds: float, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.retry_pause_seconds = retry_pause_seconds
        self.sleep = sleep
        self.http = httpx.Client(timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def unclaimed(self, address: str) -> Iterator[Mapping[str, Any]]:
        page = 1
        while True:
            data = self._page(address, page)
            results, total = data.get("results") or [], int(data.get("total") or 0)
            yield from results
            if total == 0 or page >= -(-total // PAGE_SIZE):
                return
            page += 1

    def _page(self, address: str, page: int) -> Mapping[str, Any]:
        params: dict[str, str | int] = {"page_size": PAGE_SIZE, "page": page, "address": address}
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.get(self.base_url + UNCLAIMED_PATH, params=params)
                body = response.json()
            except (httpx.TransportError, ValueError) as error:
                problem = f"{type(error).__name__}"
            else:
                if response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                elif not isinstance(body, dict):
                    raise BridgeApiError("the bridge API answered something that is not a JSON object")
                elif body.get("errcode") == 0:
                    return body.get("data") or {}
                elif TRANSIENT_API_ERROR in str(body.get("errmsg", "")):
                    problem = f"errcode {body.get('errcode')}: {body.get('errmsg')}"
                else:
                    raise BridgeApiError(f"bridge API error {body.get('errcode')}: {body.get('errmsg')}")
            if attempt < self.attempts:
                self.sleep(self.retry_pause_seconds)
        raise BridgeApiError(f"bridge API page {page}: {problem} after {self.attempts} attempts")


def relay_claimable(
    api: BridgeApi, sender: TransactionSender, *, withdrawal_contract: str, liquidity: str, l1_messenger: str
) -> MessengerReport:
    """Relay every claimable message the L2 Withdrawal contract sent to Liquidity."""
    report = MessengerReport()
    check: ReceiptCheck = failed_relay_check(l1_messenger)
    # A relay broadcast before a crash may be mined by now, and then the API no longer lists it.
    for outcome in sender.resume_unfinished(PURPOSE, success_reverts={MESSAGE_ALREADY_EXECUTED}, receipt_check=check):
        _note(report, outcome.idempotency_key, outcome)
    for result in api.unclaimed(withdrawal_contract):
        report.listed += 1
        message = parse_result(result)
        if message is None:
            report.not_claimable += 1
            continue
        if message.target != liquidity.lower():
            report.not_for_liquidity += 1  # the API lists by L2 sender; only Liquidity's messages are ours
            continue
        outcome: TxOutcome = sender.send(
            PURPOSE,
            message.message_hash,
            l1_messenger,
            message.calldata(),
            gas_limit=RELAY_GAS_LIMIT,
            success_reverts={MESSAGE_ALREADY_EXECUTED},
            receipt_check=check,
        )
        _note(report, message.message_hash, outcome)
    return report


def _note(report: MessengerReport, message_hash: str, outcome: TxOutcome) -> None:
    if outcome.status.value == "settled":
        report.already_done += 1
    elif outcome.ok:
        report.relayed.append(message_hash)
    elif outcome.parked:
        report.parked.append((message_hash, outcome.error_name or FAILED_RELAYED_MESSAGE))
    else:
        report.failed.append((message_hash, outcome.last_error or outcome.status.value))
