"""The transaction sender: every write to a chain goes through here (DESIGN.md "Writes to chains").

For one logical action, identified by (purpose, idempotency_key):

1. Under a lock on (chain id, signer) that holds across processes, the action's ledger row is
   read or written and committed (`transactions`, status `pending`).
2. A row already `confirmed`, `settled` or `reverted` is returned as it is: nothing is sent twice.
   A row left `pending`/`sent`/`failed` by an earlier call (or a crashed process) is reconciled
   first: the receipt of every attempt ever broadcast is looked up (a replacement may have lost
   to the original); if one was mined it is recorded and nothing is sent. If none was mined but
   the chain nonce moved past the row's nonce, another transaction used it: the row is `dropped`
   and starts over with a new nonce. Otherwise its nonce is still free and the action resumes on
   it with a bumped fee, so at most one of its transactions can ever be mined.
3. Gas is estimated (unless fixed). A revert at estimation is decoded by custom-error selector
   and recorded as `reverted` (or `settled` when the caller declared it success-equivalent),
   with no broadcast.
4. Each attempt is signed locally, recorded in `transaction_attempts` and committed, then
   broadcast raw. Fees follow intmax_core.chain.fees (EIP-1559 on L1, legacy type 0 on Scroll).
5. The receipt is awaited (timeout, N confirmations). On timeout the next attempt replaces the
   transaction: same nonce, higher fee. A status-0 receipt is replayed with eth_call at its
   block to recover the revert data, then decoded.

Locking (intmax_core.chain.signer_lock): a PostgreSQL advisory lock or a file lock next to the
SQLite file, released when the holding process dies. The lock is held for the whole `send` (receipt wait included): one
signer, one sender at a time. Within the lock the nonce is the chain's `latest` count, raised
past any other row of this signer that is still `pending`/`sent` with a transaction the node
knows (a crashed process's transaction still in the mempool).

Keys never leave intmax_core.chain.signers: only addresses, hashes and node messages reach the
ledger, exceptions and logs.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from eth_utils import keccak, to_checksum_address
from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from intmax_core.chain import fees
from intmax_core.chain.errors import EXECUTION_REVERTED_CODE, DecodedRevert, ErrorRegistry, revert_data
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.rpc_errors import RpcError, RpcUnavailable
from intmax_core.chain.signer_lock import signer_lock
from intmax_core.chain.signers import Signer
from intmax_core.warehouse.ledger import TransactionStatus, transaction_attempts, transactions

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5  # the originals' TRANSACTION_MAX_RETRIES
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 30.0  # the function services' wait; the withdrawal processor used 15 s
DEFAULT_CONFIRMATIONS = 1
DEFAULT_POLL_INTERVAL_SECONDS = 0.5
# Another sender of the same signer may hold the lock through max_attempts receipt waits.
DEFAULT_LOCK_TIMEOUT_SECONDS = 600.0
# Fallback tip when a node answers neither eth_maxPriorityFeePerGas nor eth_feeHistory (ethers' default).
FALLBACK_PRIORITY_FEE_WEI = 10**9
FEE_HISTORY_BLOCKS = 5
FEE_HISTORY_PERCENTILE = 50
# The string revert of the Scroll messengers for a message relayed before (reference/contracts.md 7).
MESSAGE_ALREADY_EXECUTED = "Message was already successfully executed"

FINAL_STATUSES = frozenset({TransactionStatus.CONFIRMED, TransactionStatus.SETTLED, TransactionStatus.REVERTED})
# Rows whose nonce may still be taken by a transaction of theirs waiting in a mempool.
IN_FLIGHT_STATUSES = (TransactionStatus.PENDING, TransactionStatus.SENT)


class SenderError(RuntimeError):
    pass


class IdempotencyConflict(SenderError):
    """The idempotency key is already used by a different transaction."""


@dataclass(frozen=True)
class SendPolicy:
    """How hard to try (reference/services.md 2.3). Build one per use: L1 EIP-1559 or L2 legacy."""

    fee_mode: Literal["eip1559", "legacy"] = "eip1559"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    gas_multiplier_step: Decimal = fees.FUNCTION_SERVICES_STEP
    scroll_gas_multiplier: Decimal = fees.DEFAULT_SCROLL_GAS_MULTIPLIER
    receipt_timeout_seconds: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS
    confirmations: int = DEFAULT_CONFIRMATIONS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
    # Reverts that mean "already done": Error(string) reasons, or 4-byte selectors ("0x1234abcd").
    success_reverts: frozenset[str] = frozenset()
    # The most this sender pays per gas (legacy gas price, or EIP-1559 max fee), whatever the
    # formulas say. The originals' formulas scale the node's suggestion, and a node whose
    # suggestion follows recent tips (anvil, a quiet chain) feeds them their own last bid: without
    # a ceiling the price compounds with every transaction. None = no ceiling.
    max_fee_per_gas: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.confirmations < 1:
            raise ValueError("max_attempts and confirmations must be at least 1")


@dataclass(frozen=True)
class TxOutcome:
    purpose: str
    idempotency_key: str
    status: TransactionStatus
    tx_hash: str | None
    nonce: int | None
    block_number: int | None
    attempts: int
    error_selector: str | None = None
    error_name: str | None = None
    error_args: list[Any] | None = None
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        """The action is done on chain (mined with success, or the chain already reflected it)."""
        return self.status in (TransactionStatus.CONFIRMED, TransactionStatus.SETTLED)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TxOutcome:
        return cls(
            purpose=row["purpose"],
            idempotency_key=row["idempotency_key"],
            status=TransactionStatus(row["status"]),
            tx_hash=row["tx_hash"],
            nonce=row["nonce"],
            block_number=row["block_number"],
            attempts=row["attempts"],
            error_selector=row["error_selector"],
            error_name=row["error_name"],
            error_args=row["error_args"],
            last_error=row["last_error"],
        )


class BroadcastRejection(enum.Enum):
    """Why eth_sendRawTransaction refused a transaction."""

    ALREADY_KNOWN = "already_known"  # the node has this exact transaction: as good as accepted
    NONCE_TOO_LOW = "nonce_too_low"  # something was mined at this nonce: reconcile
    UNDERPRICED = "underpriced"  # replacement or pool-minimum fee too low: bump and retry
    REVERTED = "reverted"  # the node simulated it and it reverts
    OTHER = "other"  # insufficient funds, gas limit, malformed...: give up for now


# Codes under which nodes report txpool rejections: geth and Scroll's l2geth use -32000 ("server
# error") for all of them, anvil and reth -32003 ("transaction rejected", EIP-1474), Nethermind
# and OpenEthereum -32010. The code says "rejected", never why, so for these codes only, the
# reason is read from the message: the txpool's error constants (geth core/txpool/errors.go and
# core/error.go), which the other clients reproduce verbatim for compatibility.
TXPOOL_REJECTION_CODES = frozenset({-32000, -32003, -32010})
TXPOOL_REASONS: tuple[tuple[str, BroadcastRejection], ...] = (
    ("already known", BroadcastRejection.ALREADY_KNOWN),  # geth ErrAlreadyKnown
    ("known transaction", BroadcastRejection.ALREADY_KNOWN),  # older geth, Nethermind
    ("transaction already imported", BroadcastRejection.ALREADY_KNOWN),  # anvil
    ("nonce too low", BroadcastRejection.NONCE_TOO_LOW),  # geth ErrNonceTooLow
    ("replacement transaction underpriced", BroadcastRejection.UNDERPRICED),  # geth ErrReplaceUnderpriced
    ("transaction underpriced", BroadcastRejection.UNDERPRICED),  # geth ErrUnderpriced (pool minimum)
    ("max fee per gas less than block base fee", BroadcastRejection.UNDERPRICED),  # geth ErrFeeCapTooLow
)


def classify_broadcast_error(error: RpcError) -> BroadcastRejection:
    if error.code == EXECUTION_REVERTED_CODE:
        return BroadcastRejection.REVERTED
    if error.code in TXPOOL_REJECTION_CODES:
        message = error.message.lower()
        for prefix, rejection in TXPOOL_REASONS:
            if message.startswith(prefix):
                return rejection
    return BroadcastRejection.OTHER


@dataclass
class _Action:
    row_id: int
    purpose: str
    idempotency_key: str
    to: str
    data: bytes
    value: int
    gas_limit: int | None
    success_reverts: frozenset[str]
    log: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _AttemptFees:
    tx_type: int
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None


class TransactionSender:
    """Sends transactions of one signer on one chain, recording each in the ledger first."""

    def __init__(
        self,
        client: RpcClient,
        engine: Engine,
        signer: Signer,
        chain_id: int,
        *,
        policy: SendPolicy | None = None,
        errors: ErrorRegistry | None = None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.signer = signer
        self.chain_id = chain_id
        self.policy = policy or SendPolicy()
        self.errors = errors or ErrorRegistry()

    def __repr__(self) -> str:
        return f"TransactionSender(chain_id={self.chain_id}, signer={self.signer.address})"

    # ----------------------------------------------------------------------------------- public

    def send(
        self,
        purpose: str,
        idempotency_key: str,
        to: str,
        data: bytes | str,
        value: int = 0,
        gas_limit: int | None = None,
        *,
        success_reverts: Iterable[str] | None = None,
    ) -> TxOutcome:
        """Perform the action once: send it, or return what an earlier call already recorded.

        Returns the outcome for every result the chain gave (confirmed, settled, reverted, dropped
        after a conflicting transaction, failed after max attempts or a node rejection). Raises
        IdempotencyConflict, SignerBusy, or RpcUnavailable when the node cannot be reached at a
        step that cannot be skipped (the ledger is left consistent; calling again resumes).
        """
        calldata = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else data
        accept = self.policy.success_reverts if success_reverts is None else frozenset(success_reverts)
        with signer_lock(self.engine, self.chain_id, self.signer.address, self.policy.lock_timeout_seconds):
            row = self._get_or_create(purpose, idempotency_key, to.lower(), calldata, value)
            action = _Action(
                row_id=row["id"],
                purpose=purpose,
                idempotency_key=idempotency_key,
                to=to.lower(),
                data=calldata,
                value=value,
                gas_limit=gas_limit,
                success_reverts=frozenset(s.lower() if s.startswith("0x") else s for s in accept),
                log={"purpose": purpose, "idempotency_key": idempotency_key, "chain_id": self.chain_id},
            )
            if TransactionStatus(row["status"]) in FINAL_STATUSES:
                logger.info("transaction already %s; not sending again", row["status"], extra=action.log)
                return TxOutcome.from_row(row)
            return self._drive(action, row)

    # ------------------------------------------------------------------------------ the flow

    def _drive(self, action: _Action, row: RowMapping) -> TxOutcome:
        nonce: int | None = None
        if self._attempts_at(action.row_id, row["nonce"]) and row["status"] != TransactionStatus.DROPPED:
            nonce = row["nonce"]
            if self._find_receipt(self._hashes_at(action.row_id, nonce)) is not None:
                logger.info("reconciled: an earlier attempt was mined", extra={**action.log, "nonce": nonce})
                return self._conclude(action, nonce)
            if self._chain_nonce() > nonce:
                self._drop(action, nonce)
                nonce = None
            else:
                logger.info("resuming with the same nonce and a bumped fee", extra={**action.log, "nonce": nonce})
        if nonce is None:
            if action.gas_limit is None:
                estimated = self._estimate_gas(action)
                if isinstance(estimated, TxOutcome):
                    return estimated
                action.gas_limit = estimated
            nonce = self._next_nonce(action.row_id)
        elif action.gas_limit is None:
            action.gas_limit = self._last_attempt(action.row_id)["gas_limit"]
        return self._attempt_loop(action, nonce)

    def _attempt_loop(self, action: _Action, nonce: int) -> TxOutcome:
        assert action.gas_limit is not None
        for _ in range(self.policy.max_attempts):
            previous = self._last_attempt(action.row_id, nonce)
            k = self._attempts_at(action.row_id, nonce)
            attempt_fees = self._fees(k, previous)
            raw, tx_hash = self.signer.sign_transaction(self._transaction(action, nonce, attempt_fees))
            attempt_id = self._record_attempt(action, nonce, tx_hash, raw, attempt_fees)
            log = {**action.log, "nonce": nonce, "tx_hash": tx_hash, "attempt": k}
            logger.info("broadcasting transaction", extra=log)
            try:
                self.client.call("eth_sendRawTransaction", ["0x" + raw.hex()])
            except RpcUnavailable as error:
                # It may or may not have reached a node: look for its receipt as if it had.
                self._note_broadcast_error(attempt_id, str(error))
            except RpcError as error:
                self._note_broadcast_error(attempt_id, error.message)
                rejection = classify_broadcast_error(error)
                logger.warning("broadcast rejected: %s", rejection.value, extra={**log, "error": error.message})
                if rejection is BroadcastRejection.UNDERPRICED:
                    continue
                if rejection is BroadcastRejection.NONCE_TOO_LOW:
                    if self._find_receipt(self._hashes_at(action.row_id, nonce)) is not None:
                        return self._conclude(action, nonce)
                    self._drop(action, nonce)
                    nonce = self._next_nonce(action.row_id)
                    continue
                if rejection is BroadcastRejection.REVERTED:
                    decoded = self.errors.decode(revert_data(error.data) or b"")
                    return self._record_revert(action, decoded, tx_hash=None, block=None, where="at broadcast")
                if rejection is not BroadcastRejection.ALREADY_KNOWN:
                    return self._fail(action, f"eth_sendRawTransaction rejected: {error.message}")
            if self._find_receipt_within(action.row_id, nonce, self.policy.receipt_timeout_seconds):
                return self._conclude(action, nonce)
            if self._chain_nonce() > nonce:
                if self._find_receipt(self._hashes_at(action.row_id, nonce)) is not None:
                    return self._conclude(action, nonce)
                self._drop(action, nonce)
                nonce = self._next_nonce(action.row_id)
                continue
            logger.warning("no receipt within the timeout; replacing", extra=log)
        return self._fail(action, f"max attempts ({self.policy.max_attempts}) reached without a receipt")

    # ------------------------------------------------------------------------------- chain reads

    def _chain_nonce(self) -> int:
        return int(self.client.call("eth_getTransactionCount", [self.signer.address, "latest"]), 16)

    def _estimate_gas(self, action: _Action) -> int | TxOutcome:
        call = self._call_object(action)
        try:
            return int(self.client.call("eth_estimateGas", [call]), 16)
        except RpcError as error:
            data = revert_data(error.data)
            if data is None and error.code != EXECUTION_REVERTED_CODE:
                raise
            logger.info("reverts at gas estimation; not broadcast", extra=action.log)
            return self._record_revert(action, self.errors.decode(data or b""), tx_hash=None, block=None)

    def _fees(self, attempt: int, previous: RowMapping | None) -> _AttemptFees:
        step = self.policy.gas_multiplier_step
        block = self.client.call("eth_getBlockByNumber", ["latest", False])
        base_fee = int(block.get("baseFeePerGas") or "0x0", 16)
        priority = self._priority_fee()
        if self.policy.fee_mode == "legacy":
            node = fees.LegacyNodeFees(base_fee, int(self.client.call("eth_gasPrice"), 16), priority)
            prev_price = previous["gas_price"] if previous is not None else None
            price = fees.legacy_gas_price(node, attempt, step, self.policy.scroll_gas_multiplier, prev_price)
            return _AttemptFees(tx_type=0, gas_price=self._capped(price))
        prev = (
            fees.Eip1559Fees(previous["max_fee_per_gas"], previous["max_priority_fee_per_gas"])
            if previous is not None
            else None
        )
        chosen = fees.eip1559_fees(fees.node_eip1559_fees(base_fee, priority), attempt, step, prev)
        max_fee = self._capped(chosen.max_fee_per_gas)
        return _AttemptFees(
            tx_type=2, max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(chosen.max_priority_fee_per_gas, max_fee)
        )

    def _capped(self, fee_per_gas: int) -> int:
        cap = self.policy.max_fee_per_gas
        return fee_per_gas if cap is None else min(fee_per_gas, cap)

    def _priority_fee(self) -> int:
        try:
            return int(self.client.call("eth_maxPriorityFeePerGas"), 16)
        except RpcError:
            pass
        try:
            history = self.client.call("eth_feeHistory", [hex(FEE_HISTORY_BLOCKS), "latest", [FEE_HISTORY_PERCENTILE]])
            rewards = sorted(int(reward[0], 16) for reward in history.get("reward") or [] if reward)
            if rewards:
                return rewards[len(rewards) // 2]
        except RpcError:
            pass
        return FALLBACK_PRIORITY_FEE_WEI

    def _find_receipt(self, hashes: list[str]) -> dict[str, Any] | None:
        """The receipt of whichever of `hashes` was mined (at most one can be: they share a nonce)."""
        for tx_hash in hashes:
            try:
                receipt = self.client.call("eth_getTransactionReceipt", [tx_hash])
            except RpcUnavailable:
                continue
            if receipt:
                return {**receipt, "hash": tx_hash}
        return None

    def _find_receipt_within(self, row_id: int, nonce: int, timeout: float) -> bool:
        """Whether any attempt at `nonce` is mined within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self._find_receipt(self._hashes_at(row_id, nonce)) is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.policy.poll_interval_seconds)
        return True

    def _conclude(self, action: _Action, nonce: int) -> TxOutcome:
        """An attempt at `nonce` was mined: wait for its confirmations, then record the result.

        The receipt is fetched again on every poll, so a reorg that removes it is noticed. If the
        depth is not reached within the receipt timeout (or the receipt disappears), the row stays
        `sent` with the block seen; the next `send` of the key reconciles it.
        """
        deadline = time.monotonic() + self.policy.receipt_timeout_seconds
        while True:
            receipt = self._find_receipt(self._hashes_at(action.row_id, nonce))
            if receipt is not None:
                with contextlib.suppress(RpcUnavailable):
                    depth = self.client.block_number() - int(receipt["blockNumber"], 16) + 1
                    if depth >= self.policy.confirmations:
                        return self._settle_mined(action, receipt)
            if time.monotonic() >= deadline:
                break
            time.sleep(self.policy.poll_interval_seconds)
        seen = {"tx_hash": receipt["hash"], "block_number": int(receipt["blockNumber"], 16)} if receipt else {}
        message = f"mined but not yet {self.policy.confirmations} blocks deep" if receipt else "receipt disappeared"
        logger.warning(message, extra={**action.log, **seen})
        return TxOutcome.from_row(self._update(action.row_id, last_error=message, **seen))

    def _replay_revert(self, action: _Action, receipt: Mapping[str, Any]) -> DecodedRevert | None:
        """Re-run a transaction that was mined with status 0 at its block, to get its revert data."""
        call = {**self._call_object(action), "gas": hex(action.gas_limit or int(receipt["gasUsed"], 16))}
        try:
            self.client.call("eth_call", [call, receipt["blockNumber"]])
        except RpcError as error:
            return self.errors.decode(revert_data(error.data) or b"")
        return None

    # ------------------------------------------------------------------------------- nonces

    def _next_nonce(self, row_id: int) -> int:
        """The chain's `latest` nonce, past any other unfinished row of this signer still in a mempool.

        Called under the signer lock, so any other `pending`/`sent` row of this signer was left by
        a crashed process (or a call that raised). Its nonce stays reserved only while a node still
        knows one of its transactions; otherwise nothing of it can be mined at that nonce without
        being re-broadcast, and the row's own next `send` reconciles it.
        """
        nonce = self._chain_nonce()
        with self.engine.connect() as connection:
            others = connection.execute(
                select(transactions.c.id, transactions.c.nonce).where(
                    transactions.c.chain_id == self.chain_id,
                    transactions.c.signer == self.signer.address,
                    transactions.c.status.in_(IN_FLIGHT_STATUSES),
                    transactions.c.nonce >= nonce,
                    transactions.c.id != row_id,
                )
            ).all()
        for other_id, other_nonce in sorted(others, key=lambda item: item[1]):
            if other_nonce >= nonce and self._known_to_node(self._hashes_at(other_id, other_nonce)):
                nonce = other_nonce + 1
        return nonce

    def _known_to_node(self, hashes: list[str]) -> bool:
        for tx_hash in hashes:
            with contextlib.suppress(RpcUnavailable):
                if self.client.call("eth_getTransactionByHash", [tx_hash]):
                    return True
        return False

    # ------------------------------------------------------------------------------- transactions

    def _call_object(self, action: _Action) -> dict[str, str]:
        return {
            "from": self.signer.address,
            "to": action.to,
            "data": "0x" + action.data.hex(),
            "value": hex(action.value),
        }

    def _transaction(self, action: _Action, nonce: int, attempt_fees: _AttemptFees) -> dict[str, Any]:
        transaction: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(action.to),
            "value": action.value,
            "data": action.data,
            "gas": action.gas_limit,
        }
        if attempt_fees.tx_type == 0:
            transaction["gasPrice"] = attempt_fees.gas_price
        else:
            transaction["type"] = 2
            transaction["maxFeePerGas"] = attempt_fees.max_fee_per_gas
            transaction["maxPriorityFeePerGas"] = attempt_fees.max_priority_fee_per_gas
        return transaction

    # ------------------------------------------------------------------------------- ledger

    def _get_or_create(self, purpose: str, key: str, to: str, data: bytes, value: int) -> RowMapping:
        calldata_hash = "0x" + keccak(data).hex()
        where = and_(transactions.c.purpose == purpose, transactions.c.idempotency_key == key)
        with self.engine.begin() as connection:
            row = connection.execute(select(transactions).where(where)).mappings().one_or_none()
            if row is None:
                with contextlib.suppress(IntegrityError), connection.begin_nested():
                    connection.execute(
                        insert(transactions).values(
                            purpose=purpose,
                            idempotency_key=key,
                            chain_id=self.chain_id,
                            signer=self.signer.address,
                            to_address=to,
                            value=value,
                            calldata_hash=calldata_hash,
                            calldata=data,
                            status=TransactionStatus.PENDING,
                            attempts=0,
                        )
                    )
                row = connection.execute(select(transactions).where(where)).mappings().one()
        expected = {
            "chain_id": self.chain_id,
            "signer": self.signer.address,
            "to_address": to,
            "calldata_hash": calldata_hash,
            "value": value,
        }
        differing = sorted(name for name, wanted in expected.items() if row[name] != wanted)
        if differing:
            raise IdempotencyConflict(
                f"{purpose}/{key} is already recorded (ledger row {row['id']}) with a different {', '.join(differing)}"
            )
        return row

    def _row(self, row_id: int) -> RowMapping:
        with self.engine.connect() as connection:
            return connection.execute(select(transactions).where(transactions.c.id == row_id)).mappings().one()

    def _update(self, row_id: int, **values: Any) -> RowMapping:
        with self.engine.begin() as connection:
            connection.execute(
                update(transactions).where(transactions.c.id == row_id).values(**values, updated_at=func.now())
            )
        return self._row(row_id)

    def _attempts_at(self, row_id: int, nonce: int | None) -> int:
        if nonce is None:
            return 0
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count())
                .select_from(transaction_attempts)
                .where(transaction_attempts.c.transaction_id == row_id, transaction_attempts.c.nonce == nonce)
            ).scalar_one()

    def _hashes_at(self, row_id: int, nonce: int) -> list[str]:
        """Every transaction ever signed for the row at `nonce`, newest first."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(transaction_attempts.c.tx_hash)
                    .where(transaction_attempts.c.transaction_id == row_id, transaction_attempts.c.nonce == nonce)
                    .order_by(transaction_attempts.c.attempt.desc())
                ).scalars()
            )

    def _last_attempt(self, row_id: int, nonce: int | None = None) -> RowMapping | None:
        query = select(transaction_attempts).where(transaction_attempts.c.transaction_id == row_id)
        if nonce is not None:
            query = query.where(transaction_attempts.c.nonce == nonce)
        with self.engine.connect() as connection:
            return (
                connection.execute(query.order_by(transaction_attempts.c.attempt.desc()).limit(1))
                .mappings()
                .one_or_none()
            )

    def _record_attempt(self, action: _Action, nonce: int, tx_hash: str, raw: bytes, attempt_fees: _AttemptFees) -> int:
        """Record the signed transaction, and commit, before it is broadcast."""
        gas = {
            "tx_type": attempt_fees.tx_type,
            "gas_limit": action.gas_limit,
            "gas_price": attempt_fees.gas_price,
            "max_fee_per_gas": attempt_fees.max_fee_per_gas,
            "max_priority_fee_per_gas": attempt_fees.max_priority_fee_per_gas,
        }
        with self.engine.begin() as connection:
            number = connection.execute(
                select(func.count())
                .select_from(transaction_attempts)
                .where(transaction_attempts.c.transaction_id == action.row_id)
            ).scalar_one()
            attempt_id = connection.execute(
                insert(transaction_attempts)
                .values(
                    transaction_id=action.row_id,
                    attempt=number,
                    nonce=nonce,
                    tx_hash=tx_hash,
                    raw_transaction=raw,
                    **gas,
                )
                .returning(transaction_attempts.c.id)
            ).scalar_one()
            connection.execute(
                update(transactions)
                .where(transactions.c.id == action.row_id)
                .values(
                    status=TransactionStatus.SENT,
                    nonce=nonce,
                    tx_hash=tx_hash,
                    attempts=number + 1,
                    updated_at=func.now(),
                    **gas,
                )
            )
        return attempt_id

    def _note_broadcast_error(self, attempt_id: int, message: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(transaction_attempts)
                .where(transaction_attempts.c.id == attempt_id)
                .values(broadcast_error=message)
            )

    def _settle_mined(self, action: _Action, receipt: Mapping[str, Any]) -> TxOutcome:
        mined = {
            "tx_hash": receipt["hash"],
            "block_number": int(receipt["blockNumber"], 16),
            "block_hash": receipt["blockHash"].lower(),
            "gas_used": int(receipt["gasUsed"], 16),
        }
        if int(receipt["status"], 16) == 1:
            logger.info("transaction confirmed", extra={**action.log, **mined})
            return TxOutcome.from_row(
                self._update(action.row_id, status=TransactionStatus.CONFIRMED, last_error=None, **mined)
            )
        decoded = self._replay_revert(action, receipt)
        if decoded is None:
            self._update(action.row_id, **mined)
            return self._fail_reverted_unknown(action, mined)
        return self._record_revert(action, decoded, **mined, block=mined["block_number"])

    def _fail_reverted_unknown(self, action: _Action, mined: Mapping[str, Any]) -> TxOutcome:
        message = f"reverted on chain; replaying it at block {mined['block_number']} did not revert (out of gas?)"
        logger.warning(message, extra={**action.log, **mined})
        return TxOutcome.from_row(self._update(action.row_id, status=TransactionStatus.REVERTED, last_error=message))

    def _record_revert(
        self,
        action: _Action,
        decoded: DecodedRevert,
        *,
        tx_hash: str | None,
        block: int | None,
        where: str = "at gas estimation",
        **mined: Any,
    ) -> TxOutcome:
        success = decoded.reason in action.success_reverts or (
            decoded.selector is not None and decoded.selector in action.success_reverts
        )
        status = TransactionStatus.SETTLED if success else TransactionStatus.REVERTED
        if block is not None:
            where = f"in block {block}"
        values: dict[str, Any] = {
            "status": status,
            "error_selector": decoded.selector,
            "error_name": decoded.name,
            "error_args": decoded.json_args() if decoded.name else None,
            "last_error": f"reverted {where}: {decoded.describe()}",
            **mined,
        }
        if tx_hash is not None:
            values["tx_hash"] = tx_hash
        logger.info("transaction %s: %s", status.value, values["last_error"], extra=action.log)
        return TxOutcome.from_row(self._update(action.row_id, **values))

    def _drop(self, action: _Action, nonce: int) -> None:
        message = f"nonce {nonce} was used by another transaction; none of this row's attempts was mined"
        logger.warning(message, extra=action.log)
        self._update(action.row_id, status=TransactionStatus.DROPPED, last_error=message)

    def _fail(self, action: _Action, message: str) -> TxOutcome:
        logger.warning("giving up for now: %s", message, extra=action.log)
        return TxOutcome.from_row(self._update(action.row_id, status=TransactionStatus.FAILED, last_error=message))
