"""The transaction sender against real anvil chains and real SQLite / PostgreSQL ledgers.

Two chains per module: an L1-style chain (EIP-1559 path, with the L1 contracts) and an L2-style
chain (legacy type-0 path, with the mock L2 messenger). Each test signs with its own funded
account, so the tests never share a nonce sequence.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select, text
from web3 import Web3

from intmax_core.chain import fees
from intmax_core.chain.errors import ErrorRegistry
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.sender import (
    MESSAGE_ALREADY_EXECUTED,
    IdempotencyConflict,
    SendPolicy,
    TransactionSender,
    TxOutcome,
)
from intmax_core.chain.signer_lock import SignerLockLost
from intmax_core.chain.signers import Signer, SignerError
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.ledger import TransactionStatus, transaction_attempts, transactions
from intmax_core.warehouse.ledger_repository import LedgerRepository
from intmax_core.warehouse.migrate import upgrade
from intmax_devnet.accounts import ROLE_INDEXES, account, role
from intmax_devnet.anvil import DEVNET_MNEMONIC, start_anvil
from intmax_devnet.deploy_l1 import L1_MESSENGER, LIQUIDITY, deploy_l1
from intmax_devnet.deployer import contract_abi, contract_at, deploy_contract, transact
from intmax_devnet.devnet import web3_for
from tests.conftest import PROJECT_ROOT
from tests.rpc_fault_proxy import HTTP_503, RpcFaultProxy, rpc_error

L1_CHAIN_ID = 31337
L2_CHAIN_ID = 534352
FAST = {"receipt_timeout_seconds": 10.0, "poll_interval_seconds": 0.05}
# Accounts of the devnet mnemonic far from the role and user indexes, one per test.
TEST_ACCOUNT_BASE = 500
RECIPIENT = "0x" + "5e" * 20
ERRORS = ErrorRegistry.from_abis(contract_abi("Liquidity"), contract_abi("MockL1ScrollMessenger"))
KEY_ENV = "INTMAX_TEST_SENDER_KEY"


@dataclass
class Chain:
    chain_id: int
    rpc_url: str
    w3: Web3
    fee_mode: str
    contracts: dict[str, str]

    def rpc(self, method: str, params: list | None = None):  # type: ignore[no-untyped-def]
        return self.w3.provider.make_request(method, params or [])["result"]

    def nonce(self, address: str) -> int:
        return int(self.rpc("eth_getTransactionCount", [address, "latest"]), 16)

    def receipt(self, tx_hash: str) -> dict | None:
        return self.rpc("eth_getTransactionReceipt", [tx_hash])


@pytest.fixture(scope="module")
def l1() -> Iterator[Chain]:
    anvil = start_anvil(L1_CHAIN_ID)
    w3 = web3_for(anvil.rpc_url)
    deployed = deploy_l1(
        w3,
        role("deployer").address,
        relayer=role("deposit_analyzer").address,
        token_manager=role("token_manager").address,
    )
    contracts = {LIQUIDITY: deployed[LIQUIDITY].address, L1_MESSENGER: deployed[L1_MESSENGER].address}
    yield Chain(L1_CHAIN_ID, anvil.rpc_url, w3, "eip1559", contracts)
    anvil.stop()


@pytest.fixture(scope="module")
def l2() -> Iterator[Chain]:
    # anvil suggests (eth_maxPriorityFeePerGas) the tip of the last block, and by default adds it to
    # eth_gasPrice too. With one sender as the chain's only user, the legacy formula
    # 2 * (base + tip) + tip then triples the price with every block. Keeping eth_gasPrice at the
    # base fee leaves a linear creep (each price is the previous one plus the base fee).
    anvil = start_anvil(L2_CHAIN_ID, extra_args=["--disable-min-priority-fee"])
    w3 = web3_for(anvil.rpc_url)
    messenger, _ = deploy_contract(w3, "MockL2ScrollMessenger", [], role("deployer").address)
    yield Chain(L2_CHAIN_ID, anvil.rpc_url, w3, "legacy", {"l2_messenger": messenger})
    anvil.stop()


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> Chain:
    return request.getfixturevalue(request.param)


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    yield engine
    engine.dispose()


_next_account = iter(range(TEST_ACCOUNT_BASE, TEST_ACCOUNT_BASE + 10_000))


def funded_signer(*chains: Chain) -> tuple[Signer, str]:
    """A fresh account of the devnet mnemonic with 100 ETH on `chains`; (signer, its private key)."""
    devnet_account = account(next(_next_account))
    for target in chains:
        target.rpc("anvil_setBalance", [devnet_account.address, hex(100 * 10**18)])
    return Signer.from_private_key(devnet_account.private_key), devnet_account.private_key


def make_sender(
    chain: Chain, engine: Engine, signer: Signer, *, via: RpcFaultProxy | None = None, **policy: object
) -> TransactionSender:
    """A sender on `chain`, or through the fault proxy `via` (with short RPC retries, so that an
    injected outage surfaces in a fraction of a second)."""
    settings = {**FAST, "fee_mode": chain.fee_mode, **policy}
    client = (
        RpcClient([via.url], name=f"chain {chain.chain_id}", max_attempts=2, backoff_base=0.01, backoff_max=0.02)
        if via is not None
        else RpcClient([chain.rpc_url], name=f"chain {chain.chain_id}")
    )
    return TransactionSender(
        client,
        engine,
        signer,
        chain.chain_id,
        policy=SendPolicy(**settings),  # type: ignore[arg-type]
        errors=ERRORS,
    )


def ledger_row(engine: Engine, purpose: str, key: str) -> dict:
    with engine.connect() as connection:
        row = connection.execute(
            select(transactions).where(transactions.c.purpose == purpose, transactions.c.idempotency_key == key)
        ).mappings()
        return dict(row.one())


def attempt_count(engine: Engine, key: str) -> int:
    with engine.connect() as connection:
        attempts = connection.execute(
            select(transactions.c.attempts).where(transactions.c.idempotency_key == key)
        ).scalar_one_or_none()
    return attempts or 0


def attempts_of(engine: Engine, row_id: int) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(transaction_attempts)
            .where(transaction_attempts.c.transaction_id == row_id)
            .order_by(transaction_attempts.c.attempt)
        ).mappings()
        return [dict(row) for row in rows]


def relay_deposits_call(chain: Chain, up_to: int) -> bytes:
    liquidity = contract_at(chain.w3, "Liquidity", chain.contracts[LIQUIDITY])
    return bytes.fromhex(liquidity.encode_abi("relayDeposits", [up_to, 200_000])[2:])


def l2_relay_message_call(chain: Chain, nonce: int) -> bytes:
    messenger = contract_at(chain.w3, "MockL2ScrollMessenger", chain.contracts["l2_messenger"])
    args = [Web3.to_checksum_address(RECIPIENT)] * 2 + [0, nonce, b""]
    return bytes.fromhex(messenger.encode_abi("relayMessage", args)[2:])


class automine_off:
    """Blocks are mined only by evm_mine while inside; automine comes back on exit."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def __enter__(self) -> automine_off:
        self.chain.rpc("evm_setAutomine", [False])
        return self

    def __exit__(self, *exc: object) -> None:
        self.chain.rpc("evm_mine")
        self.chain.rpc("evm_setAutomine", [True])


# How long a worker process may take to start and broadcast: Python start-up and imports take seconds
# when the suite's parallel workers keep both cores busy (20 s was too short under 3 workers).
WAIT_SECONDS = 90.0


def wait_until(condition, timeout: float = WAIT_SECONDS, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------- worker


def worker_main(arguments: str) -> None:
    """Entry point of the sender subprocesses: sends each key in turn, then prints the outcomes."""
    options = json.loads(arguments)
    chain_id, rpc_url = options["chain_id"], options["rpc_url"]
    signer = Signer.from_private_key(os.environ[KEY_ENV])
    policy = SendPolicy(
        fee_mode=options["fee_mode"],
        receipt_timeout_seconds=options["receipt_timeout_seconds"],
        poll_interval_seconds=0.05,
    )
    engine = make_engine(options["warehouse_url"])
    sender = TransactionSender(RpcClient([rpc_url]), engine, signer, chain_id, policy=policy, errors=ERRORS)
    outcomes = [
        sender.send(options["purpose"], key, options["to"], b"", value=1).status.value for key in options["keys"]
    ]
    print(json.dumps(outcomes), flush=True)


def spawn_worker(
    chain: Chain, warehouse_url: str, private_key: str, keys: list[str], **options: object
) -> subprocess.Popen:
    arguments = {
        "chain_id": chain.chain_id,
        "rpc_url": chain.rpc_url,
        "fee_mode": chain.fee_mode,
        "warehouse_url": warehouse_url,
        "purpose": "test_transfer",
        "to": RECIPIENT,
        "keys": keys,
        "receipt_timeout_seconds": 10.0,
        **options,
    }
    code = "import sys; from tests.test_sender import worker_main; worker_main(sys.argv[1])"
    # The key travels in the environment, not in argv (which `ps` shows to every user).
    env = {**os.environ, KEY_ENV: private_key}
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(arguments)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ----------------------------------------------------------------------------------------- tests


def test_sends_once_per_idempotency_key(chain: Chain, engine: Engine) -> None:
    signer, _ = funded_signer(chain)
    sender = make_sender(chain, engine, signer)
    start = chain.nonce(signer.address)

    outcome = sender.send("test_transfer", "once", RECIPIENT, b"", value=10**15)

    assert outcome.ok and outcome.status is TransactionStatus.CONFIRMED
    assert outcome.nonce == start and chain.nonce(signer.address) == start + 1
    receipt = chain.receipt(outcome.tx_hash)
    assert receipt["status"] == "0x1" and int(receipt["blockNumber"], 16) == outcome.block_number
    mined = chain.rpc("eth_getTransactionByHash", [outcome.tx_hash])
    row = ledger_row(engine, "test_transfer", "once")
    # EIP-1559 on L1, legacy type 0 on L2 (the originals' Scroll path), with the value kept.
    if chain.fee_mode == "legacy":
        assert mined["type"] == "0x0" and int(mined["gasPrice"], 16) == row["gas_price"]
    else:
        assert mined["type"] == "0x2" and int(mined["maxFeePerGas"], 16) == row["max_fee_per_gas"]
    assert int(mined["value"], 16) == row["value"] == 10**15
    assert row["signer"] == signer.address and row["to_address"] == RECIPIENT and row["attempts"] == 1
    assert [a["tx_hash"] for a in attempts_of(engine, row["id"])] == [outcome.tx_hash]

    again = sender.send("test_transfer", "once", RECIPIENT, b"", value=10**15)
    assert again == outcome
    assert chain.nonce(signer.address) == start + 1

    with pytest.raises(IdempotencyConflict, match="value"):
        sender.send("test_transfer", "once", RECIPIENT, b"", value=1)


def test_revert_at_estimation_is_decoded_and_never_broadcast(l1: Chain, engine: Engine) -> None:
    relayer = Signer.from_private_key(role("deposit_analyzer").private_key)
    sender = make_sender(l1, engine, relayer)
    start = l1.nonce(relayer.address)

    # No deposit exists: relaying up to id 5 is out of the queue's range [front=1, last=0].
    outcome = sender.send("relay_deposits", "up-to-5", l1.contracts[LIQUIDITY], relay_deposits_call(l1, 5))

    # Not declared "already done" or "may succeed later" for this purpose: parked, never broadcast.
    assert outcome.status is TransactionStatus.PARKED and not outcome.ok
    assert outcome.parked_reason == "reverted at gas estimation: OutOfRange('5', '1', '0')"
    assert (outcome.error_selector, outcome.error_name, outcome.error_args) == (
        "0x4a0dd9bd",
        "OutOfRange",
        ["5", "1", "0"],
    )
    assert outcome.tx_hash is None and outcome.nonce is None and outcome.attempts == 0
    assert l1.nonce(relayer.address) == start
    assert attempts_of(engine, ledger_row(engine, "relay_deposits", "up-to-5")["id"]) == []

    # Another account lacks the RELAYER role: a custom error with (address, bytes32) arguments.
    stranger, _ = funded_signer(l1)
    denied = make_sender(l1, engine, stranger).send(
        "relay_deposits", "stranger", l1.contracts[LIQUIDITY], relay_deposits_call(l1, 5)
    )
    assert denied.error_name == "AccessControlUnauthorizedAccount"
    assert denied.error_args == [stranger.address, "0x" + Web3.keccak(text="RELAYER").hex().removeprefix("0x")]


def test_onchain_revert_is_replayed_and_decoded(l1: Chain, engine: Engine) -> None:
    relayer = Signer.from_private_key(role("deposit_analyzer").private_key)
    sender = make_sender(l1, engine, relayer)
    start = l1.nonce(relayer.address)

    # A fixed gas limit skips estimation, so the revert happens on chain.
    outcome = sender.send(
        "relay_deposits", "on-chain", l1.contracts[LIQUIDITY], relay_deposits_call(l1, 7), gas_limit=300_000
    )

    assert outcome.status is TransactionStatus.PARKED
    assert l1.receipt(outcome.tx_hash)["status"] == "0x0"
    assert outcome.block_number == int(l1.receipt(outcome.tx_hash)["blockNumber"], 16)
    assert (outcome.error_name, outcome.error_args) == ("OutOfRange", ["7", "1", "0"])
    assert l1.nonce(relayer.address) == start + 1
    assert (
        sender.send(
            "relay_deposits", "on-chain", l1.contracts[LIQUIDITY], relay_deposits_call(l1, 7), gas_limit=300_000
        )
        == outcome
    )


@pytest.mark.parametrize("gas_limit", [None, 300_000], ids=["at-estimation", "on-chain"])
def test_string_revert_and_already_executed_message(l2: Chain, engine: Engine, gas_limit: int | None) -> None:
    signer, _ = funded_signer(l2)
    sender = make_sender(l2, engine, signer)
    messenger = l2.contracts["l2_messenger"]
    message_nonce = int(signer.address, 16)  # unique per test run: each run signs with a new account
    call = l2_relay_message_call(l2, message_nonce)

    first = sender.send("relay_message", f"{message_nonce}-first", messenger, call, gas_limit=gas_limit)
    assert first.status is TransactionStatus.CONFIRMED

    again = sender.send("relay_message", f"{message_nonce}-again", messenger, call, gas_limit=gas_limit)
    assert again.status is TransactionStatus.PARKED
    assert (again.error_selector, again.error_name) == ("0x08c379a0", "Error")
    assert again.error_args == [MESSAGE_ALREADY_EXECUTED]

    accepted = sender.send(
        "relay_message",
        f"{message_nonce}-accepted",
        messenger,
        call,
        gas_limit=gas_limit,
        success_reverts={MESSAGE_ALREADY_EXECUTED},
    )
    assert accepted.status is TransactionStatus.SETTLED and accepted.ok
    assert accepted.error_args == [MESSAGE_ALREADY_EXECUTED]
    assert (accepted.tx_hash is None) == (gas_limit is None)


def test_stuck_transaction_is_replaced_with_the_same_nonce(chain: Chain, engine: Engine) -> None:
    signer, _ = funded_signer(chain)
    step = fees.FUNCTION_SERVICES_STEP
    sender = make_sender(chain, engine, signer, receipt_timeout_seconds=1.0, gas_multiplier_step=step)
    start = chain.nonce(signer.address)
    result: list[TxOutcome] = []

    with automine_off(chain):
        block = chain.rpc("eth_getBlockByNumber", ["latest", False])
        base_fee = int(block["baseFeePerGas"], 16)
        tip = int(chain.rpc("eth_maxPriorityFeePerGas"), 16)
        gas_price = int(chain.rpc("eth_gasPrice"), 16)
        thread = threading.Thread(
            target=lambda: result.append(sender.send("test_transfer", "stuck", RECIPIENT, b"", value=1))
        )
        thread.start()
        wait_until(lambda: attempt_count(engine, "stuck") >= 2, what="a replacement")
        pending = attempts_of(engine, ledger_row(engine, "test_transfer", "stuck")["id"])[:2]
        chain.rpc("evm_mine")
        thread.join(timeout=30)
    assert result, "the sender did not finish"
    outcome = result[0]

    attempts = attempts_of(engine, ledger_row(engine, "test_transfer", "stuck")["id"])
    assert outcome.status is TransactionStatus.CONFIRMED and outcome.nonce == start
    assert {a["nonce"] for a in attempts} == {start}
    # The fee bump of docs/protocol.md §2: attempt k scaled by 1 + k * 0.3, never below the previous one.
    first, second = pending
    if chain.fee_mode == "legacy":
        node = fees.LegacyNodeFees(base_fee, gas_price, tip)
        assert first["gas_price"] == fees.legacy_gas_price(node, 0, step)
        assert second["gas_price"] == fees.legacy_gas_price(node, 1, step, previous=first["gas_price"])
        assert second["gas_price"] > first["gas_price"]
    else:
        node = fees.node_eip1559_fees(base_fee, tip)
        expected_first = fees.eip1559_fees(node, 0, step)
        assert (first["max_fee_per_gas"], first["max_priority_fee_per_gas"]) == (
            expected_first.max_fee_per_gas,
            expected_first.max_priority_fee_per_gas,
        )
        expected_second = fees.eip1559_fees(node, 1, step, expected_first)
        assert (second["max_fee_per_gas"], second["max_priority_fee_per_gas"]) == (
            expected_second.max_fee_per_gas,
            expected_second.max_priority_fee_per_gas,
        )
        assert second["max_fee_per_gas"] > first["max_fee_per_gas"]
    # Exactly one of them was mined, and the ledger names it.
    mined = [a["tx_hash"] for a in attempts if chain.receipt(a["tx_hash"])]
    assert mined == [outcome.tx_hash]
    assert chain.nonce(signer.address) == start + 1


def test_concurrent_processes_never_share_a_nonce(chain: Chain, engine: Engine, warehouse_url: str) -> None:
    signer, private_key = funded_signer(chain)
    start = chain.nonce(signer.address)
    per_process = 4
    workers = [
        spawn_worker(chain, warehouse_url, private_key, [f"p{p}-{i}" for i in range(per_process)]) for p in range(2)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr[-2000:]

    with engine.connect() as connection:
        rows = connection.execute(select(transactions).where(transactions.c.signer == signer.address)).mappings().all()
    assert [(row["status"], row["last_error"]) for row in rows] == [("confirmed", None)] * 2 * per_process
    nonces = sorted(row["nonce"] for row in rows)
    assert nonces == list(range(start, start + 2 * per_process))  # distinct and contiguous
    assert all(chain.receipt(row["tx_hash"])["status"] == "0x1" for row in rows)
    assert chain.nonce(signer.address) == start + 2 * per_process


def test_killed_after_broadcast_is_reconciled_not_resent(chain: Chain, engine: Engine, warehouse_url: str) -> None:
    signer, private_key = funded_signer(chain)
    start = chain.nonce(signer.address)

    with automine_off(chain):
        worker = spawn_worker(chain, warehouse_url, private_key, ["killed"], receipt_timeout_seconds=60.0)

        def broadcast() -> bool:
            with engine.connect() as connection:
                hashes = connection.execute(select(transaction_attempts.c.tx_hash)).scalars().all()
            return any(chain.rpc("eth_getTransactionByHash", [h]) for h in hashes)

        wait_until(broadcast, what="the worker's broadcast")
        os.kill(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=10)
        assert worker.returncode == -signal.SIGKILL
        chain.rpc("evm_mine")  # mined after the process died: it never saw the receipt

    row = ledger_row(engine, "test_transfer", "killed")
    assert row["status"] == TransactionStatus.SENT
    (attempt,) = attempts_of(engine, row["id"])
    assert chain.nonce(signer.address) == start + 1

    outcome = make_sender(chain, engine, signer).send("test_transfer", "killed", RECIPIENT, b"", value=1)

    assert outcome.status is TransactionStatus.CONFIRMED and outcome.tx_hash == attempt["tx_hash"]
    assert chain.nonce(signer.address) == start + 1  # nothing was sent again
    assert len(attempts_of(engine, row["id"])) == 1


def test_killed_before_mining_resumes_on_the_same_nonce(chain: Chain, engine: Engine, warehouse_url: str) -> None:
    signer, private_key = funded_signer(chain)
    start = chain.nonce(signer.address)

    with automine_off(chain):
        worker = spawn_worker(chain, warehouse_url, private_key, ["resumed"], receipt_timeout_seconds=60.0)
        wait_until(
            lambda: int(chain.rpc("eth_getTransactionCount", [signer.address, "pending"]), 16) > start,
            what="the worker's broadcast",
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=10)
        # Still pending, unmined: the re-run must replace it (same nonce), not add a second transfer.
        resumed: list[TxOutcome] = []
        thread = threading.Thread(
            target=lambda: resumed.append(
                make_sender(chain, engine, signer).send("test_transfer", "resumed", RECIPIENT, b"", value=1)
            )
        )
        thread.start()
        row_id = ledger_row(engine, "test_transfer", "resumed")["id"]
        wait_until(lambda: len(attempts_of(engine, row_id)) >= 2, what="the replacement")
        chain.rpc("evm_mine")
        thread.join(timeout=30)

    (outcome,) = resumed
    attempts = attempts_of(engine, row_id)
    assert outcome.status is TransactionStatus.CONFIRMED
    assert {a["nonce"] for a in attempts} == {start}
    assert [a["tx_hash"] for a in attempts if chain.receipt(a["tx_hash"])] == [outcome.tx_hash]
    assert chain.nonce(signer.address) == start + 1


def test_secrets_never_reach_logs_errors_or_ledger(l1: Chain, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    index = ROLE_INDEXES["deposit_analyzer"]
    relayer = Signer.from_mnemonic(DEVNET_MNEMONIC, index)
    private_key = account(index).private_key
    assert relayer.address == role("deposit_analyzer").address
    secrets = [private_key.lower().removeprefix("0x"), DEVNET_MNEMONIC, "test test test"]
    sender = make_sender(l1, engine, relayer)
    texts = [repr(relayer), str(relayer), repr(sender)]

    with caplog.at_level(logging.DEBUG):
        sender.send("test_transfer", "secret-check", RECIPIENT, b"", value=1)
        sender.send("relay_deposits", "secret-check", l1.contracts[LIQUIDITY], relay_deposits_call(l1, 9))
        with pytest.raises(IdempotencyConflict) as conflict:
            sender.send("test_transfer", "secret-check", RECIPIENT, b"", value=2)
        texts += [str(conflict.value), repr(conflict.value)]
        for bad in ("0x" + "zz" * 32, DEVNET_MNEMONIC.replace("junk", "nope")):
            with pytest.raises(SignerError) as error:
                if bad.startswith("0x"):
                    Signer.from_private_key(bad)
                else:
                    Signer.from_mnemonic(bad, 1)
            texts += [str(error.value), repr(error.value), repr(error.value.__context__), repr(error.value.__cause__)]
    with pytest.raises(TypeError):
        __import__("pickle").dumps(relayer)

    with engine.connect() as connection:
        for table in (transactions, transaction_attempts):
            for row in connection.execute(select(table)).mappings():
                texts += [str(value.hex() if isinstance(value, bytes) else value) for value in row.values()]
    texts.append(caplog.text)
    texts += [json.dumps(record.__dict__, default=str) for record in caplog.records]
    haystack = "\n".join(texts).lower()
    assert "secret-check" in haystack  # the dump did capture the ledger
    for secret in secrets:
        assert secret.lower() not in haystack


# ------------------------------------------------------------------- reconciliation under faults


def crash_after_broadcast(chain: Chain, engine: Engine, warehouse_url: str, private_key: str, key: str) -> None:
    """A worker process broadcasts `key`'s transfer and is SIGKILLed before it can see a receipt.

    Call with automine off: the transaction is left in the mempool."""
    worker = spawn_worker(chain, warehouse_url, private_key, [key], receipt_timeout_seconds=60.0)

    def broadcast() -> bool:
        with engine.connect() as connection:
            hashes = connection.execute(select(transaction_attempts.c.tx_hash)).scalars().all()
        return any(chain.rpc("eth_getTransactionByHash", [h]) for h in hashes)

    wait_until(broadcast, what="the worker's broadcast")
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=10)
    assert worker.returncode == -signal.SIGKILL


def mined_attempts(chain: Chain, engine: Engine, row_id: int) -> list[str]:
    return [a["tx_hash"] for a in attempts_of(engine, row_id) if chain.receipt(a["tx_hash"])]


def pending_nonce(chain: Chain, address: str) -> int:
    return int(chain.rpc("eth_getTransactionCount", [address, "pending"]), 16)


@pytest.mark.parametrize(
    ("answer", "warehouse_url"),
    [("http-503", "sqlite"), ("rpc-error", "postgresql"), ("null", "sqlite"), ("null", "postgresql")],
    indirect=["warehouse_url"],
)
def test_unreadable_receipts_after_a_crash_never_resend(
    l1: Chain, engine: Engine, warehouse_url: str, answer: str
) -> None:
    """Bug: a receipt lookup that failed (or a lagging node's null) counted as "not mined"; the
    nonce had moved, so the row was dropped and the transfer sent again with a new nonce."""
    signer, private_key = funded_signer(l1)
    start = l1.nonce(signer.address)
    with automine_off(l1):
        crash_after_broadcast(l1, engine, warehouse_url, private_key, "unreadable")
        l1.rpc("evm_mine")  # mined after the crash: the worker never saw it
    row = ledger_row(engine, "test_transfer", "unreadable")
    (attempt,) = attempts_of(engine, row["id"])

    with RpcFaultProxy(l1.rpc_url) as proxy:
        if answer == "null":
            proxy.override("eth_getTransactionReceipt", result=None)  # a backend that has not seen it
        else:
            fault = HTTP_503 if answer == "http-503" else rpc_error(-32603, "internal error")
            proxy.override("eth_getTransactionReceipt", fault=fault)
        sender = make_sender(l1, engine, signer, via=proxy)

        unknown = sender.send("test_transfer", "unreadable", RECIPIENT, b"", value=1)

        assert unknown.status is TransactionStatus.SENT and not unknown.ok
        assert "outcome unknown" in (unknown.last_error or "")
        assert proxy.methods["eth_sendRawTransaction"] == 0
        after = ledger_row(engine, "test_transfer", "unreadable")
        assert (after["status"], after["nonce"], after["attempts"]) == ("sent", start, 1)
        assert pending_nonce(l1, signer.address) == start + 1

        proxy.clear_overrides()  # the node heals
        healed = sender.send("test_transfer", "unreadable", RECIPIENT, b"", value=1)

    assert healed.status is TransactionStatus.CONFIRMED and healed.tx_hash == attempt["tx_hash"]
    assert mined_attempts(l1, engine, row["id"]) == [attempt["tx_hash"]]
    assert pending_nonce(l1, signer.address) == start + 1  # exactly one transfer, ever


def test_mined_between_the_receipt_lookup_and_the_nonce_read_is_not_resent(
    l1: Chain, engine: Engine, warehouse_url: str
) -> None:
    """Bug: reconciliation read receipts, then the nonce; a transaction mined in between looked
    like "nonce used by another transaction", and the row was dropped and sent again."""
    signer, private_key = funded_signer(l1)
    start = l1.nonce(signer.address)
    with automine_off(l1), RpcFaultProxy(l1.rpc_url) as proxy:
        crash_after_broadcast(l1, engine, warehouse_url, private_key, "race")
        # The crashed worker's transaction is mined right after the first receipt lookup is answered.
        proxy.after("eth_getTransactionReceipt", lambda request, response: l1.rpc("evm_mine") and None)
        outcome = make_sender(l1, engine, signer, via=proxy).send("test_transfer", "race", RECIPIENT, b"", value=1)

    row = ledger_row(engine, "test_transfer", "race")
    assert outcome.status is TransactionStatus.CONFIRMED and outcome.nonce == start
    assert mined_attempts(l1, engine, row["id"]) == [outcome.tx_hash]
    assert pending_nonce(l1, signer.address) == start + 1


def test_receipt_removed_by_a_reorg_is_not_confirmed(l1: Chain, engine: Engine) -> None:
    """Bug: the depth was the head minus the receipt's block, whatever the receipt's source: a
    receipt read just before a reorg (or served afterwards by a lagging node) was confirmed."""
    signer, _ = funded_signer(l1)
    start = l1.nonce(signer.address)
    snapshot = l1.rpc("evm_snapshot")
    stale: list[dict] = []

    def reorg(request: dict, response: dict) -> None:
        # The receipt was just seen at depth 1; the block is then reorged away and the chain
        # grows two blocks without it. A lagging backend keeps serving the old receipt.
        stale.append(response["result"])
        assert l1.rpc("evm_revert", [snapshot]) is True
        l1.rpc("evm_mine")
        l1.rpc("evm_mine")
        proxy.override("eth_getTransactionReceipt", result=response["result"])

    with RpcFaultProxy(l1.rpc_url) as proxy:
        proxy.after("eth_getTransactionReceipt", reorg, when=lambda result: result is not None)
        sender = make_sender(l1, engine, signer, via=proxy, confirmations=2, receipt_timeout_seconds=1.0)
        outcome = sender.send("test_transfer", "reorged", RECIPIENT, b"", value=1)
        (receipt,) = stale
        assert outcome.status is not TransactionStatus.CONFIRMED
        assert ledger_row(engine, "test_transfer", "reorged")["status"] != "confirmed"
        assert l1.receipt(receipt["transactionHash"]) is None and l1.nonce(signer.address) == start

        # Later, with the lagging backend gone, the row is reconciled: resumed on its nonce.
        proxy.clear_overrides()
        stop = threading.Event()

        def mine_until_stopped() -> None:  # blocks keep coming, so the replacement gets 2 deep
            while not stop.wait(0.2):
                l1.rpc("evm_mine")

        miner = threading.Thread(target=mine_until_stopped)
        miner.start()
        try:
            final = sender.send("test_transfer", "reorged", RECIPIENT, b"", value=1)
        finally:
            stop.set()
            miner.join()

    row = ledger_row(engine, "test_transfer", "reorged")
    assert final.status is TransactionStatus.CONFIRMED and final.nonce == start
    assert mined_attempts(l1, engine, row["id"]) == [final.tx_hash]
    assert l1.nonce(signer.address) == start + 1


@pytest.mark.parametrize(
    ("replay", "warehouse_url"),
    [("trace", "sqlite"), ("trace", "postgresql"), ("parent-block-call", "sqlite")],
    indirect=["warehouse_url"],
)
def test_status_zero_receipt_is_replayed_against_the_state_before_it(
    l1: Chain, engine: Engine, warehouse_url: str, replay: str
) -> None:
    """Bug: a mined revert was replayed with eth_call at its own block, i.e. after every
    transaction of that block: here a deposit later in the same block changes the error."""
    relayer = Signer.from_private_key(role("deposit_analyzer").private_key)
    liquidity = contract_at(l1.w3, "Liquidity", l1.contracts[LIQUIDITY])
    depositor = Web3.to_checksum_address(role("builder").address)
    relay_call = relay_deposits_call(l1, 7)
    snapshot = l1.rpc("evm_snapshot")
    result: list[TxOutcome] = []
    try:
        with RpcFaultProxy(l1.rpc_url) as proxy:
            if replay == "parent-block-call":  # a node without the debug namespace
                proxy.override("debug_traceTransaction", fault=rpc_error(-32601, "method not found"))
            sender = make_sender(l1, engine, relayer, via=proxy)
            with automine_off(l1):
                thread = threading.Thread(
                    target=lambda: result.append(
                        sender.send("relay_deposits", "pre-state", l1.contracts[LIQUIDITY], relay_call, 0, 300_000)
                    )
                )
                thread.start()
                wait_until(lambda: pending_nonce(l1, relayer.address) > l1.nonce(relayer.address), what="broadcast")
                # Same block, after the relay (anvil orders by fee; this one bids the least that the
                # next block accepts): the queue gets a deposit.
                base_fee = int(l1.rpc("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
                deposit = liquidity.functions.depositNativeToken(os.urandom(32), b"", b"").transact(
                    {
                        "from": depositor,
                        "value": 10**15,
                        "maxPriorityFeePerGas": 1,
                        "maxFeePerGas": base_fee * 9 // 8 + 2,
                    }
                )
                l1.rpc("evm_mine")
                thread.join(timeout=30)
        (outcome,) = result
        mined, deposited = l1.receipt(outcome.tx_hash), l1.receipt("0x" + deposit.hex().removeprefix("0x"))
        assert mined["status"] == "0x0" and deposited["status"] == "0x1"
        assert mined["blockNumber"] == deposited["blockNumber"]
        assert int(mined["transactionIndex"], 16) < int(deposited["transactionIndex"], 16)
        # The state it ran on had no deposit: OutOfRange(7, front 1, last 0), not last 1.
        assert outcome.status is TransactionStatus.PARKED
        assert (outcome.error_name, outcome.error_args) == ("OutOfRange", ["7", "1", "0"])
        if replay == "parent-block-call":
            assert proxy.methods["debug_traceTransaction"] == 1
        # What the old replay at the transaction's own block would have said:
        call = {"from": relayer.address, "to": l1.contracts[LIQUIDITY], "data": "0x" + relay_call.hex()}
        post = l1.w3.provider.make_request("eth_call", [call, mined["blockNumber"]])["error"]
        assert ERRORS.decode(bytes.fromhex(post["data"][2:])).json_args() == ["7", "1", "1"]
    finally:
        assert l1.rpc("evm_revert", [snapshot]) is True


def test_failed_row_keeps_its_nonce_while_its_transaction_is_pending(l2: Chain, engine: Engine) -> None:
    """Bug: only pending/sent rows reserved their nonce; a `failed` row's transaction still in the
    mempool was replaced by the next action (or blocked it as underpriced)."""
    signer, _ = funded_signer(l2)
    start = l2.nonce(signer.address)
    later: list[TxOutcome] = []
    with automine_off(l2):
        stuck = make_sender(l2, engine, signer, max_attempts=1, receipt_timeout_seconds=0.3)
        failed = stuck.send("test_transfer", "failed-first", RECIPIENT, b"", value=1)
        assert failed.status is TransactionStatus.FAILED and failed.nonce == start
        thread = threading.Thread(
            target=lambda: later.append(make_sender(l2, engine, signer).send("test_transfer", "next", RECIPIENT, b""))
        )
        thread.start()
        wait_until(lambda: attempt_count(engine, "next") >= 1, what="the next action's attempt")
        first_attempt = attempts_of(engine, ledger_row(engine, "test_transfer", "next")["id"])[0]
        assert first_attempt["nonce"] == start + 1  # past the failed row's pending transaction
        l2.rpc("evm_mine")
        thread.join(timeout=30)
    (next_outcome,) = later
    assert next_outcome.status is TransactionStatus.CONFIRMED and next_outcome.nonce == start + 1
    # The failed row's own transaction was mined meanwhile: its next send reconciles, sends nothing.
    again = stuck.send("test_transfer", "failed-first", RECIPIENT, b"", value=1)
    assert again.status is TransactionStatus.CONFIRMED and again.tx_hash == failed.tx_hash and again.attempts == 1
    assert l2.nonce(signer.address) == start + 2


def test_signer_lock_is_reasserted_before_every_broadcast(l1: Chain, postgres_url: str) -> None:
    """Bug: a PostgreSQL session advisory lock ends silently with its connection; the sender
    broadcast anyway, while another sender could hold the lock and use the same nonce."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    admin = make_engine(postgres_url)
    signer, _ = funded_signer(l1)
    start = l1.nonce(signer.address)

    def terminate_lock_session(request: dict, response: dict) -> None:
        with admin.connect() as connection:
            terminated = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalars()
            assert list(terminated) == [True]

    try:
        with RpcFaultProxy(l1.rpc_url) as proxy:
            # The fee read comes right before signing: the lock's session dies in between.
            proxy.after("eth_getBlockByNumber", terminate_lock_session)
            sender = make_sender(l1, engine, signer, via=proxy)
            with pytest.raises(SignerLockLost):
                sender.send("test_transfer", "lock-lost", RECIPIENT, b"", value=1)
            assert proxy.methods["eth_sendRawTransaction"] == 0
            assert pending_nonce(l1, signer.address) == start
            row = ledger_row(engine, "test_transfer", "lock-lost")
            (attempt,) = attempts_of(engine, row["id"])
            assert attempt["broadcast_error"].startswith("not broadcast:")

            # With a fresh lock the row resumes on its nonce (its unbroadcast attempt is reconciled).
            outcome = sender.send("test_transfer", "lock-lost", RECIPIENT, b"", value=1)
        assert outcome.status is TransactionStatus.CONFIRMED and outcome.nonce == start
        assert mined_attempts(l1, engine, row["id"]) == [outcome.tx_hash]
    finally:
        engine.dispose()
        admin.dispose()


def test_reverts_are_already_done_retryable_or_parked_and_parked_rows_can_be_requeued(
    l1: Chain, engine: Engine, warehouse_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Bug: every revert at estimation was a final `reverted`: a call that would succeed later was
    never retried, and a queue retrying it from outside blocked on it forever."""
    from intmax_cli.main import main

    relayer = Signer.from_private_key(role("deposit_analyzer").private_key)
    sender = make_sender(l1, engine, relayer)
    liquidity = l1.contracts[LIQUIDITY]
    relay_one = relay_deposits_call(l1, 1)
    snapshot = l1.rpc("evm_snapshot")
    try:
        # May succeed later: no deposit yet. The row is retryable and nothing was broadcast.
        early = sender.send("relay_deposits", "retry", liquidity, relay_one, 1, retryable_reverts={"OutOfRange"})
        assert early.status is TransactionStatus.FAILED and early.error_name == "OutOfRange"
        assert (early.nonce, early.attempts) == (None, 0)
        contract = contract_at(l1.w3, "Liquidity", liquidity)
        transact(
            l1.w3, contract.functions.depositNativeToken(os.urandom(32), b"", b""), role("builder").address, value=1
        )
        rollup = Web3.to_checksum_address(RECIPIENT)  # any address: the mock messenger only emits SentMessage
        transact(l1.w3, contract.functions.updateRollupContract(rollup), role("deployer").address)
        done = sender.send("relay_deposits", "retry", liquidity, relay_one, 1, retryable_reverts={"OutOfRange"})
        assert done.status is TransactionStatus.CONFIRMED and done.attempts == 1

        # Already done: the same relay again is out of range now, which this purpose declares success.
        settled = sender.send("relay_deposits", "again", liquidity, relay_one, 1, success_reverts={"OutOfRange"})
        assert settled.status is TransactionStatus.SETTLED and settled.ok and settled.attempts == 0

        # Never will: parked, returned unchanged by later sends, until an operator re-queues it.
        parked = sender.send("relay_deposits", "stuck", liquidity, relay_one, 1)
        assert parked.parked and parked.error_name == "OutOfRange" and parked.parked_reason
        assert sender.send("relay_deposits", "stuck", liquidity, relay_one, 1) == parked

        monkeypatch.setenv("INTMAX_DATABASE_URL", warehouse_url)
        assert main(["tx", "list", "--status", "parked"]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert len(listed) == 1 and listed[0].startswith("relay_deposits\tstuck\tparked\t")
        assert main(["tx", "requeue", "relay_deposits", "stuck"]) == 0
        assert main(["tx", "requeue", "relay_deposits", "stuck"]) == 1  # no longer parked
        assert LedgerRepository(engine).find("relay_deposits", "stuck")["status"] == "failed"
        retried = sender.send("relay_deposits", "stuck", liquidity, relay_one, 1, success_reverts={"OutOfRange"})
        assert retried.status is TransactionStatus.SETTLED
    finally:
        assert l1.rpc("evm_revert", [snapshot]) is True
