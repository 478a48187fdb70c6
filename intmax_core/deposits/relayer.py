"""The deposit relayer (the originals' deposit-analyzer): relay final deposits from L1 to the Rollup.

One run, in order:

1. Finish what an earlier run left unfinished: every `deposit_relay` ledger row of this signer
   that is neither done nor parked is sent again *with its recorded calldata*, so the sender
   reconciles it (a transaction broadcast before a crash is found, not sent twice).
2. Stop if a relay is parked: it waits for an operator (`intmax tx requeue`), and relaying later
   ids would carry its deposits in a different batch behind the operator's back.
3. Read `getLastRelayedDepositId()` from the chain (an RPC error fails the run: unknown is not 0).
4. Plan batches from there up to the newest *indexed* deposit (indexed = final: the tail only
   indexes blocks below the confirmation depth) and send each through the transaction sender:
   idempotency key = the batch's up-to id, value = the L2 fee, `OutOfRange` = already relayed.
   A batch that does not end done stops the run; later batches wait for the next run.

Several runs at once are safe: the sender's per-signer lock serialises them and the ledger's key
makes each batch exactly-once; a batch someone else relayed first settles as `OutOfRange`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eth_abi import decode
from sqlalchemy import Connection, Engine, func, select

from intmax_core.chain.errors import ErrorRegistry
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.sender import SendPolicy, TransactionSender, TxOutcome
from intmax_core.chain.signers import SignerRole, signer_for_role
from intmax_core.config import Settings
from intmax_core.deposits.relay_plan import GET_LAST_RELAYED_DEPOSIT_ID, RelayBatch, plan_batches
from intmax_core.warehouse.event_tables import EVENT_TABLES, emitted_by
from intmax_core.warehouse.ledger import TransactionStatus, transactions

log = logging.getLogger(__name__)

PURPOSE = "deposit_relay"
ALREADY_RELAYED = "OutOfRange"  # relayDeposits below the queue front: the batch is on its way already
# Ledger states a relay is finished in (REVERTED: rows from before parking existed).
FINISHED = (TransactionStatus.CONFIRMED, TransactionStatus.SETTLED)
STUCK = (TransactionStatus.PARKED, TransactionStatus.REVERTED)

# Liquidity's errors a relay can meet, for readable ledger rows (docs/protocol.md §7.3).
LIQUIDITY_ERRORS = ErrorRegistry.from_signatures(
    "OutOfRange(uint256,uint256,uint256)", "RelayLimitExceeded()", "AddressZero()"
)

DEPOSITED = EVENT_TABLES["Deposited"]
CANCELED = EVENT_TABLES["DepositCanceled"]
RELAYED = EVENT_TABLES["DepositsRelayed"]


class RelayBlocked(RuntimeError):
    """The run cannot go on (a parked relay, a retryable failure, an inconsistent chain answer)."""


@dataclass
class RelayReport:
    last_relayed_before: int | None = None
    last_relayed_after: int | None = None
    last_final_deposit_id: int = 0
    resumed: list[TxOutcome] = field(default_factory=list)
    sent: list[tuple[RelayBatch, TxOutcome]] = field(default_factory=list)

    @property
    def relayed_deposits(self) -> int:
        return sum(batch.hashes for batch, outcome in self.sent if outcome.status is TransactionStatus.CONFIRMED)


def relay_fee_wei(settings: Settings) -> int:
    return int(settings.deposit_relay_fee_eth * 10**18)


def deposit_relayer_sender(settings: Settings, client: RpcClient, engine: Engine, chain_id: int) -> TransactionSender:
    """The deposit relayer's L1 sender: wallet 1, EIP-1559 fees under the configured ceiling."""
    ceiling = settings.l1_max_fee_per_gas_gwei
    policy = SendPolicy(fee_mode="eip1559", max_fee_per_gas=None if ceiling is None else int(ceiling * 10**9))
    signer = signer_for_role(settings, SignerRole.DEPOSIT_ANALYZER)
    return TransactionSender(client, engine, signer, chain_id, policy=policy, errors=LIQUIDITY_ERRORS)


def read_last_relayed(client: RpcClient, liquidity: str) -> int:
    raw = client.call("eth_call", [{"to": liquidity, "data": GET_LAST_RELAYED_DEPOSIT_ID}, "latest"])
    (value,) = decode(["uint256"], bytes.fromhex(raw.removeprefix("0x")))
    return int(value)


def last_final_deposit_id(connection: Connection, chain_id: int, liquidity: str) -> int:
    """The newest deposit id the warehouse has indexed (0 when none)."""
    newest = connection.execute(
        select(func.max(DEPOSITED.c.deposit_id)).where(emitted_by(DEPOSITED, chain_id, liquidity))
    ).scalar()
    return int(newest or 0)


def canceled_ids(connection: Connection, chain_id: int, liquidity: str, above: int) -> set[int]:
    query = select(CANCELED.c.deposit_id).where(
        emitted_by(CANCELED, chain_id, liquidity), CANCELED.c.deposit_id > above
    )
    return set(connection.execute(query).scalars())


def relay_rows(connection: Connection, chain_id: int, signer: str, statuses: tuple[TransactionStatus, ...]) -> list:
    query = select(transactions).where(
        transactions.c.purpose == PURPOSE,
        transactions.c.chain_id == chain_id,
        transactions.c.signer == signer,
        transactions.c.status.in_(statuses),
    )
    return sorted(connection.execute(query).mappings().all(), key=lambda row: int(row["idempotency_key"]))


class DepositRelayer:
    def __init__(
        self, client: RpcClient, engine: Engine, sender: TransactionSender, *, liquidity: str, fee_wei: int
    ) -> None:
        self.client = client
        self.engine = engine
        self.sender = sender
        self.liquidity = liquidity.lower()
        self.fee_wei = fee_wei
        self.chain_id = sender.chain_id

    def run(self) -> RelayReport:
        report = RelayReport()
        self._resume_unfinished(report)
        last_relayed = read_last_relayed(self.client, self.liquidity)
        report.last_relayed_before = last_relayed
        self._refuse_if_parked(last_relayed)
        with self.engine.connect() as connection:
            report.last_final_deposit_id = last_final_deposit_id(connection, self.chain_id, self.liquidity)
            canceled = canceled_ids(connection, self.chain_id, self.liquidity, last_relayed)
        for batch in plan_batches(last_relayed, report.last_final_deposit_id, canceled):
            outcome = self.sender.send(
                PURPOSE,
                batch.idempotency_key,
                self.liquidity,
                batch.calldata(),
                value=self.fee_wei,
                success_reverts={ALREADY_RELAYED},
            )
            report.sent.append((batch, outcome))
            log.info(
                "relayDeposits(%d) for ids %d..%d (%d hashes, L2 gas %d): %s",
                batch.up_to_deposit_id,
                batch.first_deposit_id,
                batch.up_to_deposit_id,
                batch.hashes,
                batch.gas_limit,
                outcome.status.value,
            )
            self._require_done(outcome)
        report.last_relayed_after = read_last_relayed(self.client, self.liquidity)
        return report

    def _resume_unfinished(self, report: RelayReport) -> None:
        for outcome in self.sender.resume_unfinished(PURPOSE, success_reverts={ALREADY_RELAYED}):
            log.info(
                "resumed deposit relay %s left by an earlier run: %s", outcome.idempotency_key, outcome.status.value
            )
            report.resumed.append(outcome)
            self._require_done(outcome)

    def _refuse_if_parked(self, last_relayed: int) -> None:
        with self.engine.connect() as connection:
            stuck = relay_rows(connection, self.chain_id, self.sender.signer.address, STUCK)
        waiting = [row for row in stuck if int(row["idempotency_key"]) > last_relayed]
        if waiting:
            row = waiting[0]
            raise RelayBlocked(
                f"deposit relay {row['idempotency_key']} is {row['status']} "
                f"({row['error_name'] or row['parked_reason'] or row['last_error']}); "
                f"fix the cause, then `intmax tx requeue {PURPOSE} {row['idempotency_key']}`"
            )

    def _require_done(self, outcome: TxOutcome) -> None:
        if outcome.status is TransactionStatus.SETTLED:
            # OutOfRange also means "beyond the last deposit"; only a queue front past the batch
            # proves that it was relayed.
            if read_last_relayed(self.client, self.liquidity) < int(outcome.idempotency_key):
                raise RelayBlocked(
                    f"deposit relay {outcome.idempotency_key} reverted OutOfRange, but the chain has not relayed "
                    "that far: the deposit is not on chain (a reorg?); check the L1 index"
                )
            return
        if not outcome.ok:
            raise RelayBlocked(
                f"deposit relay {outcome.idempotency_key} is {outcome.status.value}: "
                f"{outcome.error_name or outcome.parked_reason or outcome.last_error}"
            )
