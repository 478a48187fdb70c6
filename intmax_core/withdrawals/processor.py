"""The processor: prove a withdrawal group and submit it on L2, exactly once.

One run per group (docs/protocol.md §3 for the statuses):

1. A group that already ended (submitted, failed, released) is left alone. A group left
   `submitting` by an earlier run is resumed: its ledger row is sent again with the recorded
   calldata, so the sender reconciles a broadcast made before a crash instead of proving and
   sending again.
2. Otherwise a new proving attempt starts (`attempt` + 1). The members still `requested` are proven
   in chain position: chain proofs (ids unique per group, attempt, position and withdrawal: the
   prover caches results by id for 600 s, so an id reused across positions or attempts would
   return a proof of another chain), the wrapper (aggregator = wallet 2), gnark.
3. `lastWithdrawalHash` is computed here from the chain proofs' withdrawals and must match the
   proof's public input (pisHash over it and the aggregator) before anything is sent.
4. `submitWithdrawalProof` goes through the transaction sender (idempotency key = group and attempt).
   Mined: exactly the submitted rows move `requested -> relayed`, and the group records the L2
   transaction. A decoded revert: the submitted rows become `failed` and the group records the
   error name. Prover failures and anything before the send: the group is `released` with the
   reason and its rows are free for a later group. A send whose outcome is not known yet raises:
   the group stays `submitting` and the next run reconciles it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_abi import encode
from sqlalchemy import Connection, Engine, func, select, update

from intmax_core.chain.hashing import (
    ChainedWithdrawal,
    Withdrawal,
    chained_withdrawal_hash,
    hex32,
    withdrawal_hash,
    withdrawal_pis_hash,
)
from intmax_core.chain.sender import TransactionSender, TxOutcome
from intmax_core.warehouse.aggregator_tables import (
    ENDED_STATUSES,
    GroupStatus,
    withdrawal_group_members,
    withdrawal_groups,
)
from intmax_core.warehouse.ledger import TransactionStatus, transactions
from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals
from intmax_core.withdrawals.prover_client import ChainProof, ProverClient, ProverFailed

log = logging.getLogger(__name__)

PURPOSE = "withdrawal_submission"
# submitWithdrawalProof((address,uint32,uint256,bytes32,bytes32,uint32)[],(bytes32,address),bytes)
SUBMIT_WITHDRAWAL_PROOF = bytes.fromhex("a93e83a6")
CHAINED_WITHDRAWAL = "(address,uint32,uint256,bytes32,bytes32,uint32)"


class GroupBlocked(RuntimeError):
    """The group's submission has no known outcome yet; the next run resumes it."""


@dataclass(frozen=True)
class GroupResult:
    group_id: str
    status: GroupStatus
    submitted: list[str]
    detail: str = ""


@dataclass(frozen=True)
class Member:
    position: int
    withdrawal_hash: str
    proof: bytes | None


def submit_calldata(chained: list[ChainedWithdrawal], last_hash: bytes, aggregator: str, proof: bytes) -> bytes:
    items = [
        (
            w.recipient,
            w.token_index,
            w.amount,
            bytes.fromhex(str(w.nullifier)[2:]),
            bytes.fromhex(str(w.block_hash)[2:]),
            w.block_number,
        )
        for w in chained
    ]
    return SUBMIT_WITHDRAWAL_PROOF + encode(
        [f"{CHAINED_WITHDRAWAL}[]", "(bytes32,address)", "bytes"], [items, (last_hash, aggregator), proof]
    )


def chained_from(proof: ChainProof) -> ChainedWithdrawal:
    w = proof.withdrawal
    return ChainedWithdrawal(
        recipient=str(w["recipient"]).lower(),
        token_index=int(w["tokenIndex"]),
        amount=int(w["amount"]),
        nullifier=str(w["nullifier"]).lower(),
        block_hash=str(w["blockHash"]).lower(),
        block_number=int(w["blockNumber"]),
    )


def mismatched_member(members: list[Member], chained: list[ChainedWithdrawal]) -> int | None:
    """The position of the first chain proof whose withdrawal is not its member's (its §10.1 hash
    differs), or None: what is submitted must be exactly the withdrawals whose rows become relayed."""
    for member, w in zip(members, chained, strict=True):
        if (
            hex32(withdrawal_hash(Withdrawal(w.recipient, w.token_index, w.amount, w.nullifier)))
            != member.withdrawal_hash
        ):
            return member.position
    return None


class GroupProcessor:
    def __init__(
        self,
        engine: Engine,
        prover: ProverClient,
        sender: TransactionSender,
        *,
        withdrawal_contract: str,
        verifier_data: str,
    ) -> None:
        self.engine = engine
        self.prover = prover
        self.sender = sender
        self.withdrawal_contract = withdrawal_contract.lower()
        self.verifier_data = verifier_data
        self.aggregator = sender.signer.address

    def process(self, group_id: str) -> GroupResult:
        with self.engine.connect() as connection:
            group = (
                connection.execute(select(withdrawal_groups).where(withdrawal_groups.c.group_id == group_id))
                .mappings()
                .one_or_none()
            )
        if group is None:
            raise ValueError(f"no withdrawal group {group_id}")
        if group["status"] in ENDED_STATUSES:
            return GroupResult(group_id, GroupStatus(group["status"]), [], "already ended")
        if group["status"] == GroupStatus.SUBMITTING.value:
            row = self._ledger_row(group_id, group["attempt"])
            if row is not None:
                return self._resume(group_id, row)
        return self._prove_and_submit(group_id)

    # ------------------------------------------------------------------------------ proving

    def _prove_and_submit(self, group_id: str) -> GroupResult:
        with self.engine.begin() as connection:
            attempt = self._start_attempt(connection, group_id)
            members = self._requested_members(connection, group_id)
        if not members:
            return self._release(group_id, "no member is still requested")
        missing = [m.withdrawal_hash for m in members if m.proof is None]
        if missing:
            return self._release(group_id, f"no single-withdrawal proof for {missing[0]}")
        try:
            previous: ChainProof | None = None
            proofs: list[ChainProof] = []
            for member in members:
                proof_id = f"{group_id}:{attempt}:{member.position}:{member.withdrawal_hash}"
                assert member.proof is not None
                previous = self.prover.chain_proof(proof_id, member.proof, previous)
                proofs.append(previous)
            assert previous is not None
            wrapper = self.prover.wrapper_proof(f"{group_id}:{attempt}:wrapper", self.aggregator, previous)
            gnark = self.prover.gnark_proof(wrapper, self.verifier_data)
        except ProverFailed as error:
            return self._release(group_id, str(error))
        chained = [chained_from(p) for p in proofs]
        mismatch = mismatched_member(members, chained)
        if mismatch is not None:
            return self._release(group_id, f"the chain proof of position {mismatch} is not the member's withdrawal")
        last_hash = chained_withdrawal_hash(chained)
        expected_pis = withdrawal_pis_hash(last_hash, self.aggregator)
        if len(gnark.public_inputs) < 2 or gnark.public_inputs[1] != expected_pis:
            return self._release(group_id, "the proof's public inputs do not match the chained withdrawal hash")
        calldata = submit_calldata(chained, last_hash, self.aggregator, gnark.proof)
        with self.engine.begin() as connection:
            connection.execute(
                update(withdrawal_groups)
                .where(withdrawal_groups.c.group_id == group_id)
                .values(
                    status=GroupStatus.SUBMITTING.value, last_withdrawal_hash=hex32(last_hash), updated_at=func.now()
                )
            )
        outcome = self.sender.send(PURPOSE, f"{group_id}:{attempt}", self.withdrawal_contract, calldata)
        return self._conclude(group_id, [m.withdrawal_hash for m in members], outcome)

    def _start_attempt(self, connection: Connection, group_id: str) -> int:
        connection.execute(
            update(withdrawal_groups)
            .where(withdrawal_groups.c.group_id == group_id)
            .values(status=GroupStatus.PROVING.value, attempt=withdrawal_groups.c.attempt + 1, updated_at=func.now())
        )
        return connection.execute(
            select(withdrawal_groups.c.attempt).where(withdrawal_groups.c.group_id == group_id)
        ).scalar_one()

    def _requested_members(self, connection: Connection, group_id: str) -> list[Member]:
        m = withdrawal_group_members
        rows = connection.execute(
            select(m.c.position, m.c.withdrawal_hash, withdrawals.c.single_withdrawal_proof)
            .join(withdrawals, withdrawals.c.withdrawal_hash == m.c.withdrawal_hash)
            .where(
                m.c.group_id == group_id, m.c.released_at.is_(None), withdrawals.c.status == WithdrawalStatus.REQUESTED
            )
            .order_by(m.c.position)
        )
        return [
            Member(
                r.position,
                r.withdrawal_hash,
                None if r.single_withdrawal_proof is None else bytes(r.single_withdrawal_proof),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------------------ outcomes

    def _ledger_row(self, group_id: str, attempt: int):  # type: ignore[no-untyped-def]
        with self.engine.connect() as connection:
            return (
                connection.execute(
                    select(transactions).where(
                        transactions.c.purpose == PURPOSE, transactions.c.idempotency_key == f"{group_id}:{attempt}"
                    )
                )
                .mappings()
                .one_or_none()
            )

    def _resume(self, group_id: str, row) -> GroupResult:  # type: ignore[no-untyped-def]
        log.info("resuming the submission of group %s (ledger row %s, %s)", group_id, row["id"], row["status"])
        outcome = self.sender.send(
            PURPOSE, row["idempotency_key"], row["to_address"], bytes(row["calldata"]), int(row["value"])
        )
        with self.engine.connect() as connection:
            submitted = [m.withdrawal_hash for m in self._requested_members(connection, group_id)]
        return self._conclude(group_id, submitted, outcome)

    def _conclude(self, group_id: str, hashes: list[str], outcome: TxOutcome) -> GroupResult:
        if outcome.ok:
            with self.engine.begin() as connection:
                connection.execute(
                    update(withdrawals)
                    .where(
                        withdrawals.c.withdrawal_hash.in_(hashes), withdrawals.c.status == WithdrawalStatus.REQUESTED
                    )
                    .values(status=WithdrawalStatus.RELAYED)
                )
                connection.execute(
                    update(withdrawal_groups)
                    .where(withdrawal_groups.c.group_id == group_id)
                    .values(
                        status=GroupStatus.SUBMITTED.value,
                        l2_tx_hash=outcome.tx_hash,
                        l2_block_number=outcome.block_number,
                        updated_at=func.now(),
                    )
                )
            return GroupResult(group_id, GroupStatus.SUBMITTED, hashes, outcome.tx_hash or "")
        if outcome.parked:
            reason = outcome.error_name or outcome.parked_reason or "reverted"
            with self.engine.begin() as connection:
                connection.execute(
                    update(withdrawals)
                    .where(
                        withdrawals.c.withdrawal_hash.in_(hashes), withdrawals.c.status == WithdrawalStatus.REQUESTED
                    )
                    .values(status=WithdrawalStatus.FAILED)
                )
                connection.execute(
                    update(withdrawal_groups)
                    .where(withdrawal_groups.c.group_id == group_id)
                    .values(
                        status=GroupStatus.FAILED.value,
                        error_name=outcome.error_name,
                        error=f"submitWithdrawalProof reverted: {reason}",
                        updated_at=func.now(),
                    )
                )
            return GroupResult(group_id, GroupStatus.FAILED, hashes, reason)
        if outcome.status is TransactionStatus.FAILED and outcome.attempts == 0:
            # Refused before anything was broadcast (a node rejection): nothing can be mined.
            return self._release(group_id, f"the submission was not sent: {outcome.last_error}")
        raise GroupBlocked(
            f"group {group_id}: submission {outcome.status.value} ({outcome.last_error}); the next run reconciles it"
        )

    def _release(self, group_id: str, reason: str) -> GroupResult:
        log.warning("releasing withdrawal group %s: %s", group_id, reason)
        with self.engine.begin() as connection:
            connection.execute(
                update(withdrawal_group_members)
                .where(
                    withdrawal_group_members.c.group_id == group_id, withdrawal_group_members.c.released_at.is_(None)
                )
                .values(released_at=datetime.now(UTC))
            )
            connection.execute(
                update(withdrawal_groups)
                .where(withdrawal_groups.c.group_id == group_id)
                .values(status=GroupStatus.RELEASED.value, error=reason, updated_at=func.now())
            )
        return GroupResult(group_id, GroupStatus.RELEASED, [], reason)
