"""The L2 devnet contracts (Rollup, Withdrawal, DevVerifier, BlockBuilderRegistry, MockL2ScrollMessenger).

One anvil chain per module; every state-changing test runs between evm_snapshot and evm_revert.
Real interface facts (selectors, topic0s) come from tests/data/real_signatures_l2.json (the real
interfaces, docs/protocol.md §7 and §11), so nothing outside the project is read at run time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, MismatchedABI

from intmax_core.chain import hashing
from intmax_devnet import prover_key
from intmax_devnet.anvil import AnvilChain, start_anvil
from intmax_devnet.deploy_l2 import (
    DEFAULT_DIRECT_WITHDRAWAL_TOKEN_INDICES,
    L2_CONTRACTS,
    deploy_l2,
    initialize_l2,
)
from intmax_devnet.deployer import DeployedContract, contract_at, deploy_contract, load_artifact

REAL = json.loads((Path(__file__).parent / "data" / "real_signatures_l2.json").read_text())["contracts"]
UINT256_MAX = 2**256 - 1
ZERO32 = b"\x00" * 32
OTHER_KEY = keccak(b"not the devnet prover")

PROCESS_DEPOSITS = bytes.fromhex("f03efa37")
PROCESS_WITHDRAWALS = bytes.fromhex("9d6a54cb")
WITHDRAWAL_TUPLE = "(address,uint32,uint256,bytes32)"


def selector(signature: str) -> str:
    return "0x" + keccak(signature.encode()).hex()[:8]


def topic0(signature: str) -> str:
    return "0x" + keccak(signature.encode()).hex()


ERR = {
    name: selector(name)
    for name in [
        "WithdrawalChainVerificationFailed()",
        "WithdrawalAggregatorMismatch()",
        "WithdrawalProofVerificationFailed()",
        "BlockHashNotExists(bytes32)",
        "RelayLimitExceeded()",
        "BlockNumberOutOfRange()",
        "OnlyScrollMessenger()",
        "OnlyLiquidity()",
        "Expired()",
        "InvalidNonce()",
        "TooManySenderPublicKeys()",
        "TooManyAccountIds()",
        "SenderAccountIdsInvalidLength()",
        "TokenAlreadyExist(uint256)",
        "TokenNotExist(uint256)",
        "InvalidInitialization()",
        "OwnableUnauthorizedAccount(address)",
        "URLIsEmpty()",
    ]
}
# Facts of docs/protocol.md §7.3, pinned here so that a wrong signature in the list above cannot hide.
assert ERR["WithdrawalChainVerificationFailed()"] == "0xfbf63aef"
assert ERR["WithdrawalAggregatorMismatch()"] == "0xbe8e6d96"
assert ERR["WithdrawalProofVerificationFailed()"] == "0x38a3efc4"
assert ERR["BlockHashNotExists(bytes32)"] == "0x631b89b0"
assert ERR["RelayLimitExceeded()"] == "0x5a8a34e5"
assert ERR["BlockNumberOutOfRange()"] == "0x98f11996"


# ---------------------------------------------------------------------------------------------------
# Interface: every selector/topic0 the devnet implements is the real one.

# Items only the devnet has, with the reason. Anything in an artifact that is neither real nor listed fails.
DEVNET_ONLY: dict[str, dict[str, str]] = {
    "Rollup": {"error RefundFailed()": "the devnet refunds all of msg.value (no rate-limit penalty)"},
    "DevVerifier": {"function prover()": "the devnet prover address whose signatures stand in for proofs"},
    "DevnetHashing": {
        f"function {sig}": "test helper exposing the hashing code Rollup/Withdrawal run"
        for sig in [
            "withdrawalHash((address,uint32,uint256,bytes32))",
            "chainedWithdrawalHash((address,uint32,uint256,bytes32,bytes32,uint32)[])",
            "withdrawalPisHash(bytes32,address)",
            "depositHash(address,bytes32,uint256,uint32,bool)",
            "blockHash(bytes32,bytes32,bytes32,uint64,uint32)",
            "registrationPublicKeysHash(uint256[])",
            "accountIdsHash(bytes)",
            "signatureHash(bool,bytes32,uint64,address,uint32,bytes16,bytes32,bytes32,bytes32[2],bytes32[4],"
            "bytes32[4])",
            "depositTreeRoot(bytes32[])",
        ]
    },
}

_UUPS = {
    "function UPGRADE_INTERFACE_VERSION()": "no proxies: implementations are deployed directly",
    "function proxiableUUID()": "no proxies",
    "function upgradeToAndCall(address,bytes)": "no proxies",
    "function renounceOwnership()": "not needed on the devnet",
    "event Upgraded(address)": "no proxies",
    "error AddressEmptyCode(address)": "OpenZeppelin proxy internals",
    "error ERC1967InvalidImplementation(address)": "no proxies",
    "error ERC1967NonPayable()": "no proxies",
    "error FailedCall()": "OpenZeppelin Address internals",
    "error NotInitializing()": "OpenZeppelin Initializable internals",
    "error UUPSUnauthorizedCallContext()": "no proxies",
    "error UUPSUnsupportedProxiableUUID(bytes32)": "no proxies",
}
# Real items the devnet deliberately leaves out, with the reason. Every other real item must exist.
NOT_IMPLEMENTED: dict[str, dict[str, str]] = {
    "Rollup": {
        **_UUPS,
        "function withdrawPenaltyFee(address)": "no rate-limit penalty is collected",
        "error InsufficientPenaltyFee()": "no rate-limit penalty",
        "error PRBMath_MulDiv18_Overflow(uint256,uint256)": "no rate limiter",
        "error PRBMath_UD60x18_Convert_Overflow(uint256)": "no rate limiter",
        "error PairingCheckFailed()": "DEVNET: no BN254 pairing check",
        "error PairingOpCodeFailed()": "DEVNET: no BN254 pairing check",
    },
    "Withdrawal": dict(_UUPS),
    "BlockBuilderRegistry": dict(_UUPS),
    "MockL2ScrollMessenger": {
        "error ErrorZeroAddress()": "the mock has no configurable counterpart",
        "event UpdateMaxFailedExecutionTimes(uint256,uint256)": "the mock has no failed-execution limit",
    },
    "DevVerifier": {},
    "DevnetHashing": {},
}


def _canonical_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def abi_items(abi: list[dict]) -> dict[str, dict]:
    """{"function name(types)": abi entry, "event ...", "error ..."} for one ABI."""
    items = {}
    for entry in abi:
        if entry["type"] in ("function", "event", "error"):
            sig = entry["name"] + "(" + ",".join(_canonical_type(i) for i in entry["inputs"]) + ")"
            items[f"{entry['type']} {sig}"] = entry
    return items


def real_items(name: str) -> dict[str, dict]:
    real = REAL.get(name, {})
    return {
        f"{kind[:-1]} {sig}": fact
        for kind in ("functions", "events", "errors")
        for sig, fact in real.get(kind, {}).items()
    }


L2_ARTIFACTS = [*L2_CONTRACTS.values(), "DevnetHashing"]


@pytest.mark.parametrize("name", [n for n in L2_ARTIFACTS if n != "Multicall3"])
def test_implemented_interface_equals_real(name: str) -> None:
    implemented = abi_items(load_artifact(name)["abi"])
    real = real_items(name)
    devnet_only = DEVNET_ONLY.get(name, {})
    for key, entry in implemented.items():
        if key in devnet_only:
            assert key not in real, f"{name}: {key} is real, do not list it as devnet-only"
            continue
        assert key in real, f"{name}: {key} is neither a real {name} item nor listed as devnet-only"
        kind, sig = key.split(" ", 1)
        assert (topic0(sig) if kind == "event" else selector(sig)) == real[key]["id"], key
        if kind == "function" and "outputs" in real[key]:
            assert [_canonical_type(o) for o in entry["outputs"]] == real[key]["outputs"], key
        if kind == "event":
            indexed = [i["indexed"] for i in entry["inputs"]]
            assert indexed == EVENT_INDEXED.get(sig, indexed), key
    missing = set(real) - set(implemented) - set(NOT_IMPLEMENTED[name])
    assert not missing, f"{name} lacks real items: {sorted(missing)}"
    assert not set(NOT_IMPLEMENTED[name]) & set(implemented), "listed as not implemented but implemented"


# Which event parameters are indexed changes the log layout without changing topic0.
EVENT_INDEXED = {
    "BlockPosted(bytes32,address,uint64,uint256,bytes32,bytes32)": [True, True, False, False, False, False],
    "DepositsProcessed(uint256,bytes32)": [True, False],
    "DepositLeafInserted(uint32,bytes32)": [True, True],
    "DirectWithdrawalQueued(bytes32,address,(address,uint32,uint256,bytes32))": [True, True, False],
    "ClaimableWithdrawalQueued(bytes32,address,(address,uint32,uint256,bytes32))": [True, True, False],
    "BlockBuilderHeartbeat(address,string)": [True, False],
    "SentMessage(address,address,uint256,uint256,uint256,bytes)": [True, True, False, False, False, False],
    "RelayedMessage(bytes32)": [True],
}


def test_key_facts_from_contracts_md() -> None:
    """The facts the services rely on, pinned literally (not derived from the data file)."""
    rollup, withdrawal = REAL["Rollup"], REAL["Withdrawal"]
    assert rollup["events"]["BlockPosted(bytes32,address,uint64,uint256,bytes32,bytes32)"]["id"] == (
        "0x28857582f627ebec65097e573daaa05604c35030fabadc548b80d1eec929d601"
    )
    sig = "submitWithdrawalProof((address,uint32,uint256,bytes32,bytes32,uint32)[],(bytes32,address),bytes)"
    assert selector(sig) == withdrawal["functions"][sig]["id"] == "0xa93e83a6"
    assert topic0("DirectWithdrawalQueued(bytes32,address,(address,uint32,uint256,bytes32))") == (
        "0xdbe674c66915823ad8cb90cac7eb482e951adec0311c9cf091da19de527ee935"
    )
    assert topic0("ClaimableWithdrawalQueued(bytes32,address,(address,uint32,uint256,bytes32))") == (
        "0x740137a4fd93de42bb435842325e4fad55ea4ba617db0b44125377b94b43249d"
    )
    assert selector("Verify(bytes,uint256[])") == "0x7e4f7a8a"
    assert selector(f"processWithdrawals({WITHDRAWAL_TUPLE}[],bytes32[])") == "0x" + PROCESS_WITHDRAWALS.hex()
    assert selector("processDeposits(uint256,bytes32[])") == "0x" + PROCESS_DEPOSITS.hex()
    assert topic0("SentMessage(address,address,uint256,uint256,uint256,bytes)") == (
        "0x104371f3b442861a2a7b82a070afbbaab748bb13757bf47769e170e37809ec1e"
    )


# ---------------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class Env:
    w3: Web3
    deployment: dict[str, DeployedContract]
    rollup: Contract
    withdrawal: Contract
    messenger: Contract
    verifier: Contract
    registry: Contract
    hashing: Contract
    deployer: str
    aggregator: str
    builder: str
    liquidity: str  # stands in for the L1 Liquidity address
    stranger: str

    def transact(self, fn: Any, sender: str, value: int = 0) -> Any:
        tx_hash = fn.transact({"from": sender, "value": value})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilChain]:
    chain = start_anvil(chain_id=534351)
    try:
        yield chain
    finally:
        chain.stop()


@pytest.fixture(scope="module")
def env(anvil: AnvilChain) -> Env:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    accounts = w3.eth.accounts
    deployer, aggregator, builder, stranger, liquidity = (
        accounts[0],
        accounts[1],
        accounts[2],
        accounts[3],
        accounts[9],
    )
    deployment = deploy_l2(w3, deployer, withdrawal_aggregator=aggregator)
    initialize_l2(w3, deployment, admin=deployer, liquidity=liquidity)
    hashing_address, _ = deploy_contract(w3, "DevnetHashing", [], deployer)

    def at(key: str) -> Contract:
        return contract_at(w3, deployment[key].contract, deployment[key].address)

    return Env(
        w3=w3,
        deployment=deployment,
        rollup=at("rollup"),
        withdrawal=at("withdrawal"),
        messenger=at("l2_scroll_messenger"),
        verifier=at("withdrawal_verifier"),
        registry=at("block_builder_registry"),
        hashing=contract_at(w3, "DevnetHashing", hashing_address),
        deployer=deployer,
        aggregator=aggregator,
        builder=builder,
        liquidity=liquidity,
        stranger=stranger,
    )


@pytest.fixture
def chain(env: Env) -> Iterator[Env]:
    """`env`, with every change undone after the test."""
    snapshot = env.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield env
    finally:
        assert env.w3.provider.make_request("evm_revert", [snapshot])["result"] is True


def revert_of(call: Callable[[], Any]) -> ContractLogicError:
    with pytest.raises(ContractLogicError) as excinfo:
        call()
    return excinfo.value


def custom_error(call: Callable[[], Any]) -> str:
    """The revert data (0x + selector + args) of `call`."""
    data = revert_of(call).data
    assert isinstance(data, str), data
    return data


def events_of(contract: Contract, name: str, receipt: Any) -> list[Any]:
    """Every decoded `name` event that `contract` emitted in `receipt`, in log order."""
    event = contract.events[name]()
    found = []
    for log in receipt["logs"]:
        if log["address"] != contract.address:
            continue
        try:
            found.append(event.process_log(log))
        except MismatchedABI:
            continue
    return found


def cs(address: str | bytes) -> str:
    return Web3.to_checksum_address(address)


# ---------------------------------------------------------------------------------------------------
# Deployment


def test_deploy_l2_layout(env: Env) -> None:
    latest = env.w3.eth.block_number
    assert set(env.deployment) == set(L2_CONTRACTS)
    for key, info in env.deployment.items():
        assert info.contract == L2_CONTRACTS[key]
        assert info.address == info.address.lower() and Web3.is_address(info.address)
        assert 0 < info.block_number <= latest
        assert len(env.w3.eth.get_code(cs(info.address))) > 0
    assert env.rollup.functions.liquidity().call() == env.liquidity
    assert env.rollup.functions.l2ScrollMessenger().call() == env.messenger.address
    assert env.rollup.functions.owner().call() == env.deployer
    assert env.withdrawal.functions.owner().call() == env.deployer
    assert env.registry.functions.owner().call() == env.deployer
    assert env.verifier.functions.prover().call() == cs(prover_key.DEVNET_PROVER_ADDRESS)
    assert env.withdrawal.functions.circuitDigest().call() == prover_key.DEVNET_WITHDRAWAL_CIRCUIT_DIGEST
    assert env.withdrawal.functions.getDirectWithdrawalTokenIndices().call() == list(
        DEFAULT_DIRECT_WITHDRAWAL_TOKEN_INDICES
    )


def test_initialize_only_once(chain: Env) -> None:
    zero = "0x" + "00" * 20
    data = custom_error(
        lambda: chain.rollup.functions.initialize(
            chain.deployer, chain.messenger.address, chain.liquidity, zero
        ).transact({"from": chain.stranger})
    )
    assert data == ERR["InvalidInitialization()"]
    data = custom_error(
        lambda: chain.withdrawal.functions.initialize(
            chain.messenger.address, chain.verifier.address, chain.liquidity, chain.rollup.address, zero, []
        ).transact({"from": chain.stranger})
    )
    assert data == ERR["InvalidInitialization()"]
    data = custom_error(lambda: chain.registry.functions.initialize(chain.stranger).transact({"from": chain.stranger}))
    assert data == ERR["InvalidInitialization()"]


def test_deploy_l2_funds_an_empty_aggregator(chain: Env) -> None:
    fresh = "0x" + keccak(b"fresh aggregator").hex()[:40]
    assert chain.w3.eth.get_balance(cs(fresh)) == 0
    deployment = deploy_l2(chain.w3, chain.deployer, withdrawal_aggregator=fresh)
    assert chain.w3.eth.get_balance(cs(fresh)) == 10 * 10**18
    # A second Rollup is uninitialised until initialize_l2: no genesis block yet.
    rollup = contract_at(chain.w3, "Rollup", deployment["rollup"].address)
    assert rollup.functions.owner().call() == "0x" + "00" * 20
    initialize_l2(
        chain.w3, deployment, admin=chain.deployer, liquidity=chain.liquidity, direct_withdrawal_token_indices=[4]
    )
    assert rollup.functions.getLatestBlockNumber().call() == 0
    withdrawal = contract_at(chain.w3, "Withdrawal", deployment["withdrawal"].address)
    assert withdrawal.functions.getDirectWithdrawalTokenIndices().call() == [4]


# ---------------------------------------------------------------------------------------------------
# Rollup: genesis and block posting

BLS_APK = [keccak(b"apk%d" % i) for i in range(2)]
BLS_SIG = [keccak(b"sig%d" % i) for i in range(4)]
BLS_MP = [keccak(b"mp%d" % i) for i in range(4)]


def test_genesis_block_hash(env: Env) -> None:
    root = hashing.DepositTree().root()
    assert env.rollup.functions.depositTreeRoot().call() == root
    assert env.rollup.functions.getLatestBlockNumber().call() == 0
    assert env.rollup.functions.getBlockHash(0).call() == hashing.block_hash(ZERO32, root, ZERO32, 0, 0)
    assert env.rollup.functions.blockHashes(0).call() == env.rollup.functions.getBlockHash(0).call()
    assert custom_error(lambda: env.rollup.functions.getBlockHash(1).call()) == ERR["BlockNumberOutOfRange()"]


def _posted(env: Env, receipt: Any) -> Any:
    events = events_of(env.rollup, "BlockPosted", receipt)
    assert len(events) == 1
    assert receipt["logs"][0]["topics"][0].hex().removeprefix("0x") == topic0(
        "BlockPosted(bytes32,address,uint64,uint256,bytes32,bytes32)"
    ).removeprefix("0x")
    return events[0]["args"]


def _check_block(env: Env, receipt: Any, args: Any, expected_signature_hash: bytes) -> None:
    timestamp = env.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    number = args["blockNumber"]
    assert args["timestamp"] == timestamp
    assert args["signatureHash"] == expected_signature_hash
    assert args["prevBlockHash"] == env.rollup.functions.getBlockHash(number - 1).call()
    assert args["depositTreeRoot"] == env.rollup.functions.depositTreeRoot().call()
    assert env.rollup.functions.getLatestBlockNumber().call() == number
    assert env.rollup.functions.getBlockHash(number).call() == hashing.block_hash(
        args["prevBlockHash"], args["depositTreeRoot"], expected_signature_hash, timestamp, number
    )


def post_registration(
    env: Env,
    keys: list[int],
    *,
    nonce: int = 0,
    expiry: int = 0,
    value: int = 0,
    tx_tree_root: bytes | None = None,
) -> tuple[Any, bytes]:
    tx_tree_root = tx_tree_root or keccak(b"tx tree %d" % len(keys))
    flags = keccak(b"flags")[:16]
    receipt = env.transact(
        env.rollup.functions.postRegistrationBlock(tx_tree_root, expiry, nonce, flags, BLS_APK, BLS_SIG, BLS_MP, keys),
        env.builder,
        value,
    )
    expected = hashing.signature_hash(
        is_registration_block=True,
        tx_tree_root=tx_tree_root,
        expiry=expiry,
        builder_address=env.builder,
        builder_nonce=nonce,
        sender_flags=flags,
        public_keys_hash=hashing.registration_public_keys_hash(keys),
        account_ids_hash=ZERO32,
        aggregated_public_key=BLS_APK,
        aggregated_signature=BLS_SIG,
        message_point=BLS_MP,
    )
    return receipt, expected


def post_non_registration(env: Env, account_ids: bytes, *, nonce: int = 0, expiry: int = 0) -> tuple[Any, bytes]:
    tx_tree_root = keccak(b"non-reg tx tree")
    flags = keccak(b"non-reg flags")[:16]
    public_keys_hash = keccak(b"public keys hash")
    receipt = env.transact(
        env.rollup.functions.postNonRegistrationBlock(
            tx_tree_root, expiry, nonce, flags, BLS_APK, BLS_SIG, BLS_MP, public_keys_hash, account_ids
        ),
        env.builder,
    )
    expected = hashing.signature_hash(
        is_registration_block=False,
        tx_tree_root=tx_tree_root,
        expiry=expiry,
        builder_address=env.builder,
        builder_nonce=nonce,
        sender_flags=flags,
        public_keys_hash=public_keys_hash,
        account_ids_hash=hashing.account_ids_hash(account_ids),
        aggregated_public_key=BLS_APK,
        aggregated_signature=BLS_SIG,
        message_point=BLS_MP,
    )
    return receipt, expected


def test_post_registration_block_hashes(chain: Env) -> None:
    keys = [int.from_bytes(keccak(b"key%d" % i), "big") for i in range(5)]
    expiry = chain.w3.eth.get_block("latest")["timestamp"] + 3600
    receipt, expected = post_registration(chain, keys, nonce=7, expiry=expiry)
    args = _posted(chain, receipt)
    assert args["blockNumber"] == 1 and args["blockBuilder"] == chain.builder
    _check_block(chain, receipt, args, expected)
    assert chain.rollup.functions.builderRegistrationNonce(chain.builder).call() == 8
    # The next block chains onto this one.
    receipt2, expected2 = post_registration(chain, [], nonce=8)
    args2 = _posted(chain, receipt2)
    assert args2["blockNumber"] == 2 and args2["prevBlockHash"] == chain.rollup.functions.getBlockHash(1).call()
    _check_block(chain, receipt2, args2, expected2)


def test_post_non_registration_block_hashes(chain: Env) -> None:
    account_ids = b"".join(i.to_bytes(5, "big") for i in (2, 3, 1000, 2**40 - 1))
    receipt, expected = post_non_registration(chain, account_ids, nonce=3)
    args = _posted(chain, receipt)
    _check_block(chain, receipt, args, expected)
    assert chain.rollup.functions.builderNonRegistrationNonce(chain.builder).call() == 4
    assert chain.rollup.functions.builderRegistrationNonce(chain.builder).call() == 0


def test_post_block_checks(chain: Env) -> None:
    rollup, builder = chain.rollup, chain.builder
    now = chain.w3.eth.get_block("latest")["timestamp"]

    def reg(expiry: int = 0, nonce: int = 0, keys: list[int] | None = None) -> Any:
        return rollup.functions.postRegistrationBlock(
            ZERO32, expiry, nonce, b"\x00" * 16, BLS_APK, BLS_SIG, BLS_MP, keys or []
        ).transact({"from": builder})

    def non_reg(ids: bytes, nonce: int = 0) -> Any:
        return rollup.functions.postNonRegistrationBlock(
            ZERO32, 0, nonce, b"\x00" * 16, BLS_APK, BLS_SIG, BLS_MP, ZERO32, ids
        ).transact({"from": builder})

    assert custom_error(lambda: reg(expiry=now)) == ERR["Expired()"]
    assert custom_error(lambda: reg(keys=list(range(129)))) == ERR["TooManySenderPublicKeys()"]
    assert custom_error(lambda: non_reg(b"\x00" * 645)) == ERR["TooManyAccountIds()"]
    assert custom_error(lambda: non_reg(b"\x00" * 6)) == ERR["SenderAccountIdsInvalidLength()"]
    chain.transact(
        rollup.functions.postRegistrationBlock(ZERO32, 0, 5, b"\x00" * 16, BLS_APK, BLS_SIG, BLS_MP, list(range(128))),
        builder,
    )
    assert custom_error(lambda: reg(nonce=5)) == ERR["InvalidNonce()"]
    chain.transact(
        rollup.functions.postRegistrationBlock(  # nonce 0 skips the check
            ZERO32, 0, 0, b"\x00" * 16, BLS_APK, BLS_SIG, BLS_MP, []
        ),
        builder,
    )
    chain.transact(
        rollup.functions.postNonRegistrationBlock(  # separate counter per block type
            ZERO32, 0, 1, b"\x00" * 16, BLS_APK, BLS_SIG, BLS_MP, ZERO32, b"\x00" * 640
        ),
        builder,
    )
    assert rollup.functions.getLatestBlockNumber().call() == 3


def test_post_block_refunds_msg_value(chain: Env) -> None:
    before = chain.w3.eth.get_balance(chain.builder)
    receipt, _ = post_registration(chain, [1, 2], value=10**18)
    spent = before - chain.w3.eth.get_balance(chain.builder)
    assert spent == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert chain.w3.eth.get_balance(chain.rollup.address) == 0


# ---------------------------------------------------------------------------------------------------
# Rollup: deposits via the mock messenger


def deposits_message(last_id: int, hashes: list[bytes]) -> bytes:
    return PROCESS_DEPOSITS + encode(["uint256", "bytes32[]"], [last_id, hashes])


def relay(env: Env, sender: str, message: bytes, nonce: int, target: str | None = None) -> Any:
    return env.messenger.functions.relayMessage(sender, target or env.rollup.address, 0, nonce, message)


def test_process_deposits_via_messenger(chain: Env) -> None:
    tree = hashing.DepositTree()
    hashes = [
        hashing.deposit_hash(chain.stranger, keccak(b"salt%d" % i), 10**15 * (i + 1), i % 3, i % 2 == 0)
        for i in range(5)
    ]
    batches = [(3, hashes[:3]), (6, hashes[3:])]  # deposit id 4 was cancelled on L1: ids skip
    index = 0
    for nonce, (last_id, batch) in enumerate(batches):
        message = deposits_message(last_id, batch)
        receipt = chain.transact(relay(chain, chain.liquidity, message, nonce), chain.stranger)
        inserted = events_of(chain.rollup, "DepositLeafInserted", receipt)
        assert [(e["args"]["depositIndex"], e["args"]["depositHash"]) for e in inserted] == [
            (index + i, h) for i, h in enumerate(batch)
        ]
        for h in batch:
            tree.insert(h)
        index += len(batch)
        processed = events_of(chain.rollup, "DepositsProcessed", receipt)
        assert [(e["args"]["lastProcessedDepositId"], e["args"]["depositTreeRoot"]) for e in processed] == [
            (last_id, tree.root())
        ]
        assert chain.rollup.functions.depositTreeRoot().call() == tree.root()
        assert chain.rollup.functions.depositIndex().call() == index
        assert chain.rollup.functions.lastProcessedDepositId().call() == last_id
        relayed = events_of(chain.messenger, "RelayedMessage", receipt)
        assert [e["args"]["messageHash"] for e in relayed] == [
            hashing.scroll_message_hash(chain.liquidity, chain.rollup.address, 0, nonce, message)
        ]
        # the log order is: leaves, DepositsProcessed (Rollup), then RelayedMessage (messenger)
        assert [log["address"] for log in receipt["logs"]] == [chain.rollup.address] * (len(batch) + 1) + [
            chain.messenger.address
        ]
    assert chain.messenger.functions.xDomainMessageSender().call() == "0x" + "00" * 20
    # A block posted now commits to the new deposit root.
    receipt, expected = post_registration(chain, [3])
    args = _posted(chain, receipt)
    assert args["depositTreeRoot"] == tree.root()
    _check_block(chain, receipt, args, expected)


def test_process_deposits_rejects_wrong_senders(chain: Env) -> None:
    message = deposits_message(1, [keccak(b"d")])
    error = revert_of(lambda: relay(chain, chain.stranger, message, 0).transact({"from": chain.stranger}))
    assert "Failed to execute message" in str(error)
    data = custom_error(
        lambda: chain.rollup.functions.processDeposits(1, [keccak(b"d")]).transact({"from": chain.liquidity})
    )
    assert data == ERR["OnlyScrollMessenger()"]
    # OnlyLiquidity is what the messenger swallowed above; see it directly with eth_call from the messenger.
    chain.w3.provider.make_request("anvil_impersonateAccount", [chain.messenger.address])
    chain.w3.provider.make_request("anvil_setBalance", [chain.messenger.address, hex(10**18)])
    data = custom_error(
        lambda: chain.rollup.functions.processDeposits(1, [keccak(b"d")]).call({"from": chain.messenger.address})
    )
    assert data == ERR["OnlyLiquidity()"]
    assert chain.rollup.functions.depositIndex().call() == 0


def test_relay_replay_is_rejected(chain: Env) -> None:
    message = deposits_message(1, [keccak(b"d")])
    chain.transact(relay(chain, chain.liquidity, message, 0), chain.stranger)
    error = revert_of(lambda: relay(chain, chain.liquidity, message, 0).transact({"from": chain.stranger}))
    assert "Message was already successfully executed" in str(error)
    message_hash = hashing.scroll_message_hash(chain.liquidity, chain.rollup.address, 0, 0, message)
    assert chain.messenger.functions.isL1MessageExecuted(message_hash).call() is True
    assert chain.rollup.functions.depositIndex().call() == 1


# ---------------------------------------------------------------------------------------------------
# MockL2ScrollMessenger and BlockBuilderRegistry


def test_messenger_send_message(chain: Env) -> None:
    m = chain.messenger.functions
    r1 = chain.transact(m.sendMessage(chain.liquidity, 5, b"\x01\x02", 1000, chain.stranger), chain.stranger, 5)
    r2 = chain.transact(m.sendMessage(chain.liquidity, 0, b"", 7), chain.stranger)
    sent = [events_of(chain.messenger, "SentMessage", r)[0]["args"] for r in (r1, r2)]
    assert [(s["sender"], s["target"], s["value"], s["messageNonce"], s["gasLimit"], s["message"]) for s in sent] == [
        (chain.stranger, chain.liquidity, 5, 0, 1000, b"\x01\x02"),
        (chain.stranger, chain.liquidity, 0, 1, 7, b""),
    ]
    error = revert_of(lambda: m.sendMessage(chain.liquidity, 5, b"", 0).transact({"from": chain.stranger, "value": 4}))
    assert "msg.value mismatch" in str(error)


def test_block_builder_heartbeat(chain: Env) -> None:
    receipt = chain.transact(chain.registry.functions.emitHeartbeat("http://builder.local:9000"), chain.builder)
    log = receipt["logs"][0]
    assert "0x" + log["topics"][0].hex().removeprefix("0x") == topic0("BlockBuilderHeartbeat(address,string)")
    assert log["topics"][1][-20:] == bytes.fromhex(chain.builder[2:])
    assert bytes(log["data"]) == encode(["string"], ["http://builder.local:9000"])
    assert (
        custom_error(lambda: chain.registry.functions.emitHeartbeat("").transact({"from": chain.builder}))
        == (ERR["URLIsEmpty()"])
    )


# ---------------------------------------------------------------------------------------------------
# DevVerifier


def test_dev_verifier(env: Env) -> None:
    verify = env.verifier.functions.Verify
    inputs = [prover_key.DEVNET_WITHDRAWAL_CIRCUIT_DIGEST, 12345]
    proof = prover_key.sign_public_inputs(inputs)
    assert len(proof) == 65 and proof[64] in (27, 28)
    assert verify(proof, inputs).call() is True
    assert proof == prover_key.withdrawal_proof(inputs[0], inputs[1])
    assert verify(proof, [inputs[0], 12346]).call() is False
    assert verify(proof, [inputs[1], inputs[0]]).call() is False
    assert verify(prover_key.sign_public_inputs(inputs, OTHER_KEY), inputs).call() is False
    # malformed proofs: false, never a revert
    assert verify(proof[:64], inputs).call() is False
    assert verify(proof + b"\x00", inputs).call() is False
    assert verify(b"", inputs).call() is False
    assert verify(proof[:64] + bytes([proof[64] - 27]), inputs).call() is False  # v = 0/1
    assert verify(proof[:64] + b"\x1d", inputs).call() is False
    assert verify(b"\x00" * 65, inputs).call() is False
    assert verify(b"\xff" * 65, inputs).call() is False


# ---------------------------------------------------------------------------------------------------
# Withdrawal


def chained(recipient: str, token_index: int, amount: int, nullifier: bytes, block_hash: bytes, number: int) -> Any:
    return hashing.ChainedWithdrawal(recipient, token_index, amount, nullifier, block_hash, number)


def as_tuple(w: hashing.ChainedWithdrawal) -> tuple:
    return (cs(w.recipient), w.token_index, w.amount, w.nullifier, w.block_hash, w.block_number)


def submit_fn(
    env: Env,
    withdrawals: list[hashing.ChainedWithdrawal],
    *,
    aggregator: str | None = None,
    last_hash: bytes | None = None,
    key: bytes = prover_key.DEVNET_PROVER_PRIVATE_KEY,
) -> Any:
    aggregator = aggregator or env.aggregator
    last = last_hash if last_hash is not None else hashing.chained_withdrawal_hash(withdrawals)
    pis = hashing.withdrawal_pis_hash(last, aggregator)
    proof = prover_key.withdrawal_proof(prover_key.DEVNET_WITHDRAWAL_CIRCUIT_DIGEST, pis, key)
    return env.withdrawal.functions.submitWithdrawalProof([as_tuple(w) for w in withdrawals], (last, aggregator), proof)


def sample_withdrawals(env: Env) -> list[hashing.ChainedWithdrawal]:
    post_registration(env, [11, 12])
    block1 = env.rollup.functions.getBlockHash(1).call()
    genesis = env.rollup.functions.getBlockHash(0).call()
    a, b = env.w3.eth.accounts[5], env.w3.eth.accounts[6]
    return [
        chained(a, 0, 10**18, keccak(b"n1"), block1, 1),  # ETH: direct
        chained(b, 7, 5 * 10**6, keccak(b"n2"), block1, 1),  # token 7: claimable
        chained(b, 1, 3, keccak(b"n3"), genesis, 0),  # token 1: direct
        chained(a, 9, 2**200, keccak(b"n4"), genesis, 0),  # claimable
    ]


def expected_message(direct: list[hashing.ChainedWithdrawal], claimable: list[hashing.ChainedWithdrawal]) -> bytes:
    return PROCESS_WITHDRAWALS + encode(
        [f"{WITHDRAWAL_TUPLE}[]", "bytes32[]"],
        [
            [(w.recipient, w.token_index, w.amount, w.nullifier) for w in direct],
            [
                hashing.withdrawal_hash(hashing.Withdrawal(w.recipient, w.token_index, w.amount, w.nullifier))
                for w in claimable
            ],
        ],
    )


def test_submit_withdrawal_proof_accepted(chain: Env) -> None:
    ws = sample_withdrawals(chain)
    receipt = chain.transact(submit_fn(chain, ws), chain.aggregator)
    direct_ws, claimable_ws = [ws[0], ws[2]], [ws[1], ws[3]]

    def w_hash(w: hashing.ChainedWithdrawal) -> bytes:
        return hashing.withdrawal_hash(hashing.Withdrawal(w.recipient, w.token_index, w.amount, w.nullifier))

    # events in submission order, each keyed by the 10.1 withdrawal hash
    topics = [(log["topics"][0].hex().removeprefix("0x"), bytes(log["topics"][1])) for log in receipt["logs"][:-1]]
    direct_t0 = topic0("DirectWithdrawalQueued(bytes32,address,(address,uint32,uint256,bytes32))")[2:]
    claim_t0 = topic0("ClaimableWithdrawalQueued(bytes32,address,(address,uint32,uint256,bytes32))")[2:]
    assert topics == [
        (direct_t0, w_hash(ws[0])),
        (claim_t0, w_hash(ws[1])),
        (direct_t0, w_hash(ws[2])),
        (claim_t0, w_hash(ws[3])),
    ]
    queued = events_of(chain.withdrawal, "DirectWithdrawalQueued", receipt)
    assert [(e["args"]["recipient"], tuple(e["args"]["withdrawal"].values())) for e in queued] == [
        (w.recipient, (w.recipient, w.token_index, w.amount, w.nullifier)) for w in direct_ws
    ]
    # one message to Liquidity.processWithdrawals(direct, claimableHashes)
    sent = events_of(chain.messenger, "SentMessage", receipt)
    assert len(sent) == 1
    args = sent[0]["args"]
    assert (args["sender"], args["target"], args["value"], args["messageNonce"], args["gasLimit"]) == (
        chain.withdrawal.address,
        chain.liquidity,
        0,
        0,
        UINT256_MAX,
    )
    assert args["message"] == expected_message(direct_ws, claimable_ws)
    assert all(chain.withdrawal.functions.nullifiers(w.nullifier).call() for w in ws)

    # Resubmitting the same withdrawals is silently skipped: success, no events, no message.
    again = chain.transact(submit_fn(chain, ws), chain.aggregator)
    assert again["logs"] == []

    # A mix of spent and new: only the new one goes through.
    new = chained(chain.w3.eth.accounts[7], 0, 42, keccak(b"n5"), ws[0].block_hash, 1)
    mixed = chain.transact(submit_fn(chain, [ws[1], new]), chain.aggregator)
    sent = events_of(chain.messenger, "SentMessage", mixed)
    assert [(e["args"]["messageNonce"], e["args"]["message"]) for e in sent] == [(1, expected_message([new], []))]
    assert len(events_of(chain.withdrawal, "ClaimableWithdrawalQueued", mixed)) == 0


def test_submit_withdrawal_proof_rejections(chain: Env) -> None:
    ws = sample_withdrawals(chain)

    def fails(fn: Any, sender: str | None = None) -> str:
        return custom_error(lambda: fn.transact({"from": sender or chain.aggregator}))

    wrong_chain = bytes(32 * [1])
    assert fails(submit_fn(chain, ws, last_hash=wrong_chain)) == ERR["WithdrawalChainVerificationFailed()"]
    assert (
        fails(submit_fn(chain, list(reversed(ws)), last_hash=hashing.chained_withdrawal_hash(ws)))
        == (ERR["WithdrawalChainVerificationFailed()"])
    )
    # Proof made for the aggregator, sent by someone else; and public inputs naming someone else.
    assert fails(submit_fn(chain, ws), chain.stranger) == ERR["WithdrawalAggregatorMismatch()"]
    assert fails(submit_fn(chain, ws, aggregator=chain.stranger)) == ERR["WithdrawalAggregatorMismatch()"]
    assert fails(submit_fn(chain, ws, key=OTHER_KEY)) == ERR["WithdrawalProofVerificationFailed()"]
    # Proof for another circuit digest.
    last = hashing.chained_withdrawal_hash(ws)
    bad_digest_proof = prover_key.withdrawal_proof(1, hashing.withdrawal_pis_hash(last, chain.aggregator))
    fn = chain.withdrawal.functions.submitWithdrawalProof(
        [as_tuple(w) for w in ws], (last, chain.aggregator), bad_digest_proof
    )
    assert fails(fn) == ERR["WithdrawalProofVerificationFailed()"]
    # Unknown block hash at an existing number; block number out of range (raised by Rollup).
    unknown = keccak(b"unknown block")
    bad = [*ws[:2], chained(ws[2].recipient, 1, 3, keccak(b"n9"), unknown, 1)]
    assert fails(submit_fn(chain, bad)) == ERR["BlockHashNotExists(bytes32)"] + unknown.hex()
    out_of_range = [chained(ws[0].recipient, 0, 1, keccak(b"n10"), ws[0].block_hash, 99)]
    assert fails(submit_fn(chain, out_of_range)) == ERR["BlockNumberOutOfRange()"]
    # Nothing was spent by the failed attempts.
    assert not any(chain.withdrawal.functions.nullifiers(w.nullifier).call() for w in ws)


def test_relay_limit(chain: Env) -> None:
    genesis = chain.rollup.functions.getBlockHash(0).call()
    many = [chained(chain.stranger, i % 3, i + 1, keccak(b"many%d" % i), genesis, 0) for i in range(101)]
    data = custom_error(lambda: submit_fn(chain, many).transact({"from": chain.aggregator}))
    assert data == ERR["RelayLimitExceeded()"]
    # Exactly 100 is fine, and then the 101st alone goes through (the 100 are skipped).
    chain.transact(submit_fn(chain, many[:100]), chain.aggregator)
    receipt = chain.transact(submit_fn(chain, many), chain.aggregator)
    sent = events_of(chain.messenger, "SentMessage", receipt)
    assert many[100].token_index == 1  # direct
    assert [e["args"]["message"] for e in sent] == [expected_message([many[100]], [])]


def test_withdrawal_admin(chain: Env) -> None:
    w = chain.withdrawal.functions
    chain.transact(w.addDirectWithdrawalTokenIndices([5, 6]), chain.deployer)
    assert w.getDirectWithdrawalTokenIndices().call() == [0, 1, 2, 5, 6]
    assert custom_error(lambda: w.addDirectWithdrawalTokenIndices([7, 5]).transact({"from": chain.deployer})) == (
        ERR["TokenAlreadyExist(uint256)"] + (5).to_bytes(32, "big").hex()
    )
    receipt = chain.transact(w.removeDirectWithdrawalTokenIndices([1]), chain.deployer)
    assert events_of(chain.withdrawal, "DirectWithdrawalTokenIndicesRemoved", receipt)[0]["args"]["tokenIndices"] == [1]
    assert w.getDirectWithdrawalTokenIndices().call() == [0, 6, 2, 5]  # swap-and-pop, like EnumerableSet
    assert custom_error(lambda: w.removeDirectWithdrawalTokenIndices([1]).transact({"from": chain.deployer})) == (
        ERR["TokenNotExist(uint256)"] + (1).to_bytes(32, "big").hex()
    )
    not_owner = ERR["OwnableUnauthorizedAccount(address)"] + "00" * 12 + chain.stranger[2:].lower()
    for fn in (
        w.addDirectWithdrawalTokenIndices([9]),
        w.removeDirectWithdrawalTokenIndices([0]),
        w.setCircuitDigest(1),
        w.updateVerifier(chain.stranger),
    ):
        assert custom_error(lambda fn=fn: fn.transact({"from": chain.stranger})) == not_owner
    # Token 1 is now claimable; a new verifier (here: one keyed to another prover) takes effect.
    other_prover = Web3().eth.account.from_key(OTHER_KEY).address
    verifier_address, _ = deploy_contract(chain.w3, "DevVerifier", [other_prover], chain.deployer)
    chain.transact(w.updateVerifier(cs(verifier_address)), chain.deployer)
    genesis = chain.rollup.functions.getBlockHash(0).call()
    ws = [chained(chain.stranger, 1, 1, keccak(b"x"), genesis, 0)]
    assert (
        custom_error(lambda: submit_fn(chain, ws).transact({"from": chain.aggregator}))
        == (ERR["WithdrawalProofVerificationFailed()"])
    )
    receipt = chain.transact(submit_fn(chain, ws, key=OTHER_KEY), chain.aggregator)
    assert len(events_of(chain.withdrawal, "ClaimableWithdrawalQueued", receipt)) == 1


# ---------------------------------------------------------------------------------------------------
# Hashing: the contracts' code (via DevnetHashing) equals intmax_core.chain.hashing on random inputs

HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
b32 = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(lambda b: cs("0x" + b.hex()))
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
u256 = st.integers(0, UINT256_MAX)
chained_withdrawals = st.builds(hashing.ChainedWithdrawal, addresses, u32, u256, b32, b32, u32)


@HYPOTHESIS
@given(withdrawals=st.lists(chained_withdrawals, max_size=6))
def test_chained_withdrawal_hash_matches(env: Env, withdrawals: list[hashing.ChainedWithdrawal]) -> None:
    on_chain = env.hashing.functions.chainedWithdrawalHash([as_tuple(w) for w in withdrawals]).call()
    assert on_chain == hashing.chained_withdrawal_hash(withdrawals)


@HYPOTHESIS
@given(last=b32, aggregator=addresses)
def test_pis_hash_matches(env: Env, last: bytes, aggregator: str) -> None:
    value = hashing.withdrawal_pis_hash(last, aggregator)
    assert env.hashing.functions.withdrawalPisHash(last, aggregator).call() == value
    assert value < 2**253


@HYPOTHESIS
@given(recipient=addresses, token_index=u32, amount=u256, nullifier=b32)
def test_withdrawal_hash_matches(env: Env, recipient: str, token_index: int, amount: int, nullifier: bytes) -> None:
    expected = hashing.withdrawal_hash(hashing.Withdrawal(recipient, token_index, amount, nullifier))
    assert env.hashing.functions.withdrawalHash((recipient, token_index, amount, nullifier)).call() == expected


@HYPOTHESIS
@given(depositor=addresses, salt=b32, amount=u256, token_index=u32, eligible=st.booleans())
def test_deposit_hash_matches(
    env: Env, depositor: str, salt: bytes, amount: int, token_index: int, eligible: bool
) -> None:
    expected = hashing.deposit_hash(depositor, salt, amount, token_index, eligible)
    assert env.hashing.functions.depositHash(depositor, salt, amount, token_index, eligible).call() == expected


@HYPOTHESIS
@given(prev=b32, root=b32, sig=b32, timestamp=u64, number=u32)
def test_block_hash_matches(env: Env, prev: bytes, root: bytes, sig: bytes, timestamp: int, number: int) -> None:
    expected = hashing.block_hash(prev, root, sig, timestamp, number)
    assert env.hashing.functions.blockHash(prev, root, sig, timestamp, number).call() == expected


@HYPOTHESIS
@given(
    is_reg=st.booleans(),
    tx_root=b32,
    expiry=u64,
    builder=addresses,
    nonce=u32,
    flags=st.binary(min_size=16, max_size=16),
    pk_hash=b32,
    ids_hash=b32,
    apk=st.lists(b32, min_size=2, max_size=2),
    sig=st.lists(b32, min_size=4, max_size=4),
    mp=st.lists(b32, min_size=4, max_size=4),
)
def test_signature_hash_matches(
    env: Env,
    is_reg: bool,
    tx_root: bytes,
    expiry: int,
    builder: str,
    nonce: int,
    flags: bytes,
    pk_hash: bytes,
    ids_hash: bytes,
    apk: list[bytes],
    sig: list[bytes],
    mp: list[bytes],
) -> None:
    expected = hashing.signature_hash(
        is_registration_block=is_reg,
        tx_tree_root=tx_root,
        expiry=expiry,
        builder_address=builder,
        builder_nonce=nonce,
        sender_flags=flags,
        public_keys_hash=pk_hash,
        account_ids_hash=ids_hash,
        aggregated_public_key=apk,
        aggregated_signature=sig,
        message_point=mp,
    )
    on_chain = env.hashing.functions.signatureHash(
        is_reg, tx_root, expiry, builder, nonce, flags, pk_hash, ids_hash, apk, sig, mp
    ).call()
    assert on_chain == expected


@settings(max_examples=25, deadline=None)
@given(keys=st.lists(u256, max_size=128), ids=st.lists(st.binary(min_size=5, max_size=5), max_size=128))
def test_sender_hashes_match(env: Env, keys: list[int], ids: list[bytes]) -> None:
    assert env.hashing.functions.registrationPublicKeysHash(keys).call() == hashing.registration_public_keys_hash(keys)
    account_ids = b"".join(ids)
    assert env.hashing.functions.accountIdsHash(account_ids).call() == hashing.account_ids_hash(account_ids)


@settings(max_examples=30, deadline=None)
@given(leaves=st.lists(b32, max_size=40))
def test_deposit_tree_root_matches(env: Env, leaves: list[bytes]) -> None:
    tree = hashing.DepositTree()
    for leaf in leaves:
        tree.insert(leaf)
    assert env.hashing.functions.depositTreeRoot(leaves).call() == tree.root()
