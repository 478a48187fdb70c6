"""The L1 devnet contracts (Liquidity, MockL1ScrollMessenger, Minter + ITX, TestERC20, Multicall3).

One anvil chain per module; every test runs between evm_snapshot and evm_revert. Real interface facts
come from tests/data/real_signatures_l1.json (the real interfaces, docs/protocol.md §7 and §11) and the
literal topic0 values below (docs/protocol.md §7.1), so nothing outside the project is read at run time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_hash.auto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from intmax_core.chain import hashing
from intmax_devnet.anvil import start_anvil
from intmax_devnet.deploy_l1 import (
    ITX,
    L1_MESSENGER,
    LIQUIDITY,
    MINTER,
    MULTICALL3,
    USDC,
    WBTC,
    L1Deployment,
    deploy_l1,
    initialize_l1,
)
from intmax_devnet.deployer import contract_at, deploy_contract, load_artifact

REAL = json.loads((Path(__file__).parent / "data" / "real_signatures_l1.json").read_text())["interfaces"]

# Literal topic0 / selector values, as docs/protocol.md §7.1-§7.3 lists them.
TOPIC0 = {
    "Deposited": "0x1061e9784cdd951f4cbc394956165b3a94cf872a3afda95fc76b55cefb35cc51",
    "DepositsRelayed": "0x71df2a50f3ab1563277a27043770eb570eeaa3fc42ef76c607cdc667a82d03a4",
    "DepositCanceled": "0x0c1c0787650562778c282502dfd6dcea2fb79d23783920aa18aee36b4aa3dc48",
    "WithdrawalClaimable": "0xd63a18c6858559d79659151118b33c6ad7cf4f7735b64fe9dbd85c509e11a117",
    "DirectWithdrawalSuccessed": "0x6a65a945f1306f9bb3d4e3ce63aa367de6976a375de002492404554392c2460e",
    "DirectWithdrawalFailed": "0xedf8120f63daf877f6cb9aa7a3e21724c4532681d4afd77a45561904f1a04599",
    "ClaimedWithdrawal": "0x0575467d13f5ab9174f470cec96623374b05cf4b19a3c83a4bfca523e243ab04",
    "WithdrawalFeeCollected": "0x34658d4aa4a80fa713a0f3a04329f39177b5bea34e8dcba253600ee5ade6c654",
    "WithdrawalFeeWithdrawn": "0x6c8628f02ab9884920c84f6f3507810561c8ed6c4b3bae0ce96eceab6def228b",
    "WithdrawalFeeRatioSet": "0xf5a91001916153e67eaaa2ae82827a002838792ca48af87df63408cc09cb96f4",
    "RollupUpdated": "0xae1f5aa15f6ff844896347ceca2a3c24c8d3a27785efdeacd581a0a95172784a",
    "SentMessage": "0x104371f3b442861a2a7b82a070afbbaab748bb13757bf47769e170e37809ec1e",
    "RelayedMessage": "0x4641df4a962071e12719d8c8c8e5ac7fc4d97b927346a3d7a335b1f7517e133c",
    "FailedRelayedMessage": "0x99d0e048484baa1b1540b1367cb128acd7ab2946d1ed91ec10e3c85e4bf51b8f",
    "Minted": "0x176b02bb2d12439ff7a20b59f402cca16c76f50508b13ef3166a600eb719354a",
    "TransferredToLiquidity": "0x8273dcd202b30d46ae419270b79ac1ec0503fa8973c856f53796e0bbafa2b1cc",
    "TransferredTo": "0x83a2824f5c71c4f423c288d81294ebbfabbaba7b96e18b3a150d472c9744d22b",
}
SELECTOR = {
    "relayDeposits": "0x76918c0d",
    "getLastRelayedDepositId": "0x67517837",
    "getLastDepositId": "0xdd9ea299",
    "getTokenInfo": "0xcbd90cd0",
    "getTokenIndex": "0x381175f6",
    "processWithdrawals": "0x9d6a54cb",
    "claimWithdrawals": "0x91f69b7d",
    "claimableWithdrawals": "0xe579fa2b",
    "getDepositData": "0xc13819b6",
    "getDepositDataHash": "0x986be0e2",
    "withdrawalFeeRatio": "0xd395c017",
    "cancelDeposit": "0x9c79a31c",
    "depositNativeToken": "0x3de40cfa",
    "depositERC20": "0x5521f77e",
    "relayMessageWithProof": "0xc311b6fc",
    "replayMessage": "0x55004105",
    "xDomainMessageSender": "0x6e296e45",
    "mint": "0x1249c58b",
    "transferToLiquidity": "0xdec58c00",
    "transferTo": "0x2ccb1b30",
    "getEthBalance": "0x4d2301cc",
    "aggregate3": "0x82ad56cb",
    "decimals": "0x313ce567",
    "symbol": "0x95d89b41",
    "name": "0x06fdde03",
}
ERROR_SELECTOR = {
    "OutOfRange(uint256,uint256,uint256)": "0x4a0dd9bd",
    "RelayLimitExceeded()": "0x5a8a34e5",
    "WithdrawalNotFound(bytes32)": "0x60737bc0",
    "AlreadyRelayed()": "0xd0ebeb4b",
    "SenderIsNotScrollMessenger()": "0xd8844f15",
    "InvalidWithdrawalAddress()": "0x84c21026",
    "AccessControlUnauthorizedAccount(address,bytes32)": "0xe2517d3f",
    "EnforcedPause()": "0xd93c0665",
}

# Which real interfaces each devnet artifact may implement.
IMPLEMENTS = {
    "Liquidity": ["Liquidity"],
    "MockL1ScrollMessenger": ["MockL1ScrollMessenger"],
    "Minter": ["Minter", "AccessControl"],
    "IntmaxToken": ["ERC20"],
    "TestERC20": ["ERC20"],
    "Multicall3": ["Multicall3"],
}
# Devnet items with no counterpart in the real interfaces (tests/data): (artifact, canonical signature) -> reason.
DEVNET_ONLY = {
    ("Minter", "TOKEN_MANAGER_ROLE()"): "role getter of the real Minter (IMinter docs), not in the bundled ABI",
    ("Minter", "intmaxToken()"): "devnet getter: the ITX token the Minter created",
    ("Minter", "liquidity()"): "devnet getter: where transferToLiquidity sends",
    ("IntmaxToken", "mint(address)"): "minter-only emission (real ITX mints on a schedule)",
    ("IntmaxToken", "MINT_AMOUNT()"): "devnet fixed emission per mint",
    ("IntmaxToken", "minter()"): "devnet getter: the only account allowed to mint",
    ("IntmaxToken", "OnlyMinter()"): "devnet error of mint(address) for non-minters",
    ("TestERC20", "mint(address,uint256)"): "devnet faucet used by the simulator",
    ("MockL1ScrollMessenger", "isL2MessageExecuted(bytes32)"): "public mapping of the real L1ScrollMessenger",
}
# What the services and the devnet tooling call: each must exist on the devnet contract.
REQUIRED = {
    "Liquidity": [
        "relayDeposits(uint256,uint256)",
        "getLastRelayedDepositId()",
        "getLastDepositId()",
        "getTokenInfo(uint32)",
        "getTokenIndex(uint8,address,uint256)",
        "getNativeTokenIndex()",
        "processWithdrawals((address,uint32,uint256,bytes32)[],bytes32[])",
        "claimWithdrawals((address,uint32,uint256,bytes32)[])",
        "claimableWithdrawals(bytes32)",
        "getDepositData(uint256)",
        "getDepositDataHash(uint256)",
        "withdrawalFeeRatio(uint32)",
        "setWithdrawalFeeRatio(uint32,uint256)",
        "RELAY_LIMIT()",
        "hasRole(bytes32,address)",
        "grantRole(bytes32,address)",
        "updateRollupContract(address)",
        "cancelDeposit(uint256,(address,bytes32,uint256,uint32,bool))",
        "depositNativeToken(bytes32,bytes,bytes)",
        "depositERC20(address,bytes32,uint256,bytes,bytes)",
        "initialize(address,address,address,address,address,address,address,address[])",
        "Deposited(uint256,address,bytes32,uint32,uint256,bool,uint256)",
        "DepositsRelayed(uint256,uint256,bytes)",
        "DepositCanceled(uint256)",
        "WithdrawalClaimable(bytes32)",
        "DirectWithdrawalSuccessed(bytes32,address)",
        "DirectWithdrawalFailed(bytes32,(address,uint32,uint256,bytes32))",
        "ClaimedWithdrawal(address,bytes32)",
        "WithdrawalFeeCollected(uint32,uint256)",
    ],
    "MockL1ScrollMessenger": [
        "sendMessage(address,uint256,bytes,uint256,address)",
        "sendMessage(address,uint256,bytes,uint256)",
        "relayMessageWithProof(address,address,uint256,uint256,bytes,(uint256,bytes))",
        "replayMessage(address,address,uint256,uint256,bytes,uint32,address)",
        "xDomainMessageSender()",
        "SentMessage(address,address,uint256,uint256,uint256,bytes)",
        "RelayedMessage(bytes32)",
        "FailedRelayedMessage(bytes32)",
    ],
    "Minter": [
        "mint()",
        "transferToLiquidity(uint256)",
        "transferTo(address,uint256)",
        "Minted(uint256)",
        "TransferredToLiquidity(uint256)",
        "TransferredTo(address,uint256)",
    ],
    "IntmaxToken": ["decimals()", "symbol()", "name()", "balanceOf(address)", "transfer(address,uint256)"],
    "TestERC20": ["decimals()", "symbol()", "approve(address,uint256)", "transferFrom(address,address,uint256)"],
    "Multicall3": ["aggregate3((address,bool,bytes)[])", "getEthBalance(address)", "getBlockNumber()"],
}

WITHDRAWAL_TUPLE = "(address,uint32,uint256,bytes32)"
RELAYER_ROLE = keccak(b"RELAYER")
WITHDRAWAL_ROLE = keccak(b"WITHDRAWAL")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
GAS_LIMIT = 1_000_000
DUMMY_PROOF = (0, b"")
ETHER = 10**18


# ---------------------------------------------------------------------------------------------------
# ABI helpers


def canonical_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(canonical_type(c) for c in item["components"]) + ")" + item["type"][len("tuple") :]
    return item["type"]


def canonical(item: dict) -> str:
    return item["name"] + "(" + ",".join(canonical_type(i) for i in item["inputs"]) + ")"


def hash_hex(signature: str, size: int) -> str:
    return "0x" + keccak(signature.encode()).hex()[: 2 * size]


def abi_items(name: str) -> list[dict]:
    return [i for i in load_artifact(name)["abi"] if i["type"] in ("function", "event", "error")]


def real_item(artifact: str, kind: str, signature: str) -> Any:
    for interface in IMPLEMENTS[artifact]:
        found = REAL[interface][kind + "s"].get(signature)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------------------------------
# Chain fixtures


@dataclass
class Env:
    w3: Web3
    deployment: L1Deployment
    admin: str
    relayer: str
    token_manager: str
    alice: str
    bob: str
    rollup: str  # an EOA standing in for the L2 Rollup
    withdrawal: str  # an EOA standing in for the L2 Withdrawal contract
    claim: str  # an EOA standing in for the L2 Claim contract
    stranger: str

    def contract(self, key: str) -> Contract:
        return contract_at(self.w3, self.deployment[key].contract, self.deployment[key].address)

    @property
    def liquidity(self) -> Contract:
        return self.contract(LIQUIDITY)

    @property
    def messenger(self) -> Contract:
        return self.contract(L1_MESSENGER)


@pytest.fixture(scope="module")
def chain() -> Iterator[Env]:
    anvil = start_anvil(chain_id=31337)
    try:
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        accounts = list(w3.eth.accounts)
        admin, relayer, token_manager, alice, bob, rollup, withdrawal, claim, stranger = accounts[:9]
        deployment = deploy_l1(w3, admin, relayer=relayer, token_manager=token_manager)
        initialize_l1(w3, deployment, admin=admin, rollup=rollup, withdrawal=withdrawal, claim=claim)
        yield Env(w3, deployment, admin, relayer, token_manager, alice, bob, rollup, withdrawal, claim, stranger)
    finally:
        anvil.stop()


@pytest.fixture
def env(chain: Env) -> Iterator[Env]:
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield chain
    finally:
        assert chain.w3.provider.make_request("evm_revert", [snapshot])["result"] is True


def send(env: Env, call: ContractFunction, sender: str, value: int = 0) -> TxReceipt:
    tx_hash = call.transact({"from": Web3.to_checksum_address(sender), "value": value})
    receipt = env.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"{call.fn_name} reverted"
    return receipt


def revert_data(env: Env, call: ContractFunction, sender: str, value: int = 0) -> bytes:
    """The revert data of `call` from `sender` (fails the test when the call does not revert)."""
    tx = call.build_transaction({"from": Web3.to_checksum_address(sender), "value": value, "gas": 10_000_000})
    request = {"from": tx["from"], "to": tx["to"], "data": tx["data"], "value": hex(value)}
    response = env.w3.provider.make_request("eth_call", [request, "latest"])
    assert "error" in response, f"{call.fn_name} did not revert"
    data = response["error"].get("data") or "0x"
    return bytes.fromhex(data[2:])


def assert_custom_error(data: bytes, signature: str, args: tuple = ()) -> None:
    assert "0x" + data[:4].hex() == hash_hex(signature, 4), f"expected {signature}, got 0x{data[:4].hex()}"
    types = signature[signature.index("(") + 1 : -1]
    if args:
        assert decode(_split_types(types), data[4:]) == args
    else:
        assert data[4:] == b""


def assert_revert_string(data: bytes, message: str) -> None:
    assert data[:4] == bytes.fromhex("08c379a0")
    assert decode(["string"], data[4:]) == (message,)


def _split_types(types: str) -> list[str]:
    out, depth, current = [], 0, ""
    for ch in types:
        if ch == "," and depth == 0:
            out.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    return [*out, current] if current else out


def logs_from(receipt: TxReceipt, address: str) -> list:
    return [log for log in receipt["logs"] if log["address"].lower() == address.lower()]


def topic0_of(log: Any) -> str:
    return "0x" + bytes(log["topics"][0]).hex()


def event(contract: Contract, name: str, log: Any) -> dict:
    assert topic0_of(log) == TOPIC0.get(name, topic0_of(log)), f"log is not {name}"
    return dict(contract.events[name]().process_log(log)["args"])


def salt(n: int) -> bytes:
    return keccak(b"recipient-salt-%d" % n)


def deposit_eth(env: Env, sender: str, amount: int, n: int) -> TxReceipt:
    return send(env, env.liquidity.functions.depositNativeToken(salt(n), b"", b""), sender, amount)


def deposit_erc20(env: Env, key: str, sender: str, amount: int, n: int) -> TxReceipt:
    token = env.contract(key)
    send(env, token.functions.mint(Web3.to_checksum_address(sender), amount), sender)
    send(env, token.functions.approve(env.liquidity.address, amount), sender)
    return send(env, env.liquidity.functions.depositERC20(token.address, salt(n), amount, b"", b""), sender)


def withdrawals_message(withdrawals: list[hashing.Withdrawal], claimable: list[bytes]) -> bytes:
    items = [(w.recipient, w.token_index, w.amount, w.nullifier) for w in withdrawals]
    return bytes.fromhex("9d6a54cb") + encode([WITHDRAWAL_TUPLE + "[]", "bytes32[]"], [items, claimable])


def relay_l2_message(env: Env, message: bytes, *, sender: str, nonce: int = 0) -> TxReceipt:
    call = env.messenger.functions.relayMessageWithProof(
        Web3.to_checksum_address(sender), env.liquidity.address, 0, nonce, message, DUMMY_PROOF
    )
    return send(env, call, env.stranger)


def fund_liquidity(env: Env) -> None:
    deposit_eth(env, env.alice, 10 * ETHER, 9001)
    deposit_erc20(env, USDC, env.alice, 1_000 * 10**6, 9002)


# ---------------------------------------------------------------------------------------------------
# Interface fidelity


def test_reference_facts_are_self_consistent() -> None:
    """The data file's hashes are keccak of their signatures and agree with docs/protocol.md §7's literals."""
    for interface in REAL.values():
        for signature, item in interface["functions"].items():
            assert item["selector"] == hash_hex(signature, 4), signature
        for signature, item in interface["events"].items():
            assert item["topic0"] == hash_hex(signature, 32), signature
        for signature, selector in interface["errors"].items():
            assert selector == hash_hex(signature, 4), signature
    all_events = {s.split("(")[0]: v["topic0"] for i in REAL.values() for s, v in i["events"].items()}
    all_functions = {s.split("(")[0]: v["selector"] for i in REAL.values() for s, v in i["functions"].items()}
    all_errors = {s: v for i in REAL.values() for s, v in i["errors"].items()}
    for name, value in TOPIC0.items():
        assert all_events[name] == value, name
    for name, value in SELECTOR.items():
        assert all_functions[name] == value, name
    for signature, value in ERROR_SELECTOR.items():
        assert all_errors[signature] == value, signature


@pytest.mark.parametrize("artifact", sorted(IMPLEMENTS))
def test_every_abi_item_matches_the_real_interface(artifact: str) -> None:
    """Each function/event/error of a devnet contract has the real selector/topic0, indexing,
    outputs and payability; anything without a real counterpart must be allowlisted."""
    unknown = []
    seen = set()
    for item in abi_items(artifact):
        signature = canonical(item)
        seen.add(signature)
        real = real_item(artifact, item["type"], signature)
        if real is None:
            if (artifact, signature) not in DEVNET_ONLY:
                unknown.append(f"{item['type']} {signature}")
            continue
        if item["type"] == "function":
            assert hash_hex(signature, 4) == real["selector"], signature
            assert [canonical_type(o) for o in item["outputs"]] == real["outputs"], signature
            assert (item["stateMutability"] == "payable") == real["payable"], signature
        elif item["type"] == "event":
            assert hash_hex(signature, 32) == real["topic0"], signature
            assert [i["indexed"] for i in item["inputs"]] == real["indexed"], signature
            assert not item["anonymous"], signature
        else:
            assert hash_hex(signature, 4) == real, signature
    assert not unknown, f"{artifact} has items that are neither real nor allowlisted: {unknown}"
    stale = [s for (a, s) in DEVNET_ONLY if a == artifact and s not in seen]
    assert not stale, f"allowlist entries missing from {artifact}: {stale}"
    missing = [s for s in REQUIRED.get(artifact, []) if s not in seen]
    assert not missing, f"{artifact} lacks {missing}"


# ---------------------------------------------------------------------------------------------------
# Deployment


def test_deployment_layout(env: Env) -> None:
    liquidity = env.liquidity
    d = env.deployment
    assert set(d) == {L1_MESSENGER, LIQUIDITY, MINTER, ITX, WBTC, USDC, MULTICALL3}
    for deployed in d.values():
        assert deployed.address == deployed.address.lower()
        assert env.w3.eth.get_code(Web3.to_checksum_address(deployed.address)) != b""
        block = env.w3.eth.get_block(deployed.block_number, full_transactions=True)
        assert block["transactions"], "the recorded deployment block has a transaction"
    assert d[ITX].block_number == d[MINTER].block_number
    # Real index layout: 0 ETH, 1 ITX, 2 WBTC, 3 USDC.
    assert liquidity.functions.getNativeTokenIndex().call() == 0
    assert liquidity.functions.getTokenInfo(0).call() == (0, ZERO_ADDRESS, 0)
    for index, key in enumerate((ITX, WBTC, USDC), start=1):
        token = Web3.to_checksum_address(d[key].address)
        assert liquidity.functions.getTokenInfo(index).call() == (1, token, 0)
        assert liquidity.functions.getTokenIndex(1, token, 0).call() == [True, index]
    assert liquidity.functions.getTokenIndex(1, Web3.to_checksum_address(env.bob), 0).call() == [False, 0]
    assert liquidity.functions.getTokenIndex(0, ZERO_ADDRESS, 0).call() == [True, 0]
    assert env.contract(ITX).functions.decimals().call() == 18
    assert env.contract(WBTC).functions.decimals().call() == 8
    assert env.contract(USDC).functions.decimals().call() == 6
    assert env.contract(USDC).functions.symbol().call() == "USDC"
    assert liquidity.functions.RELAY_LIMIT().call() == 450
    assert liquidity.functions.getLastDepositId().call() == 0
    assert liquidity.functions.getLastRelayedDepositId().call() == 0
    assert liquidity.functions.hasRole(RELAYER_ROLE, Web3.to_checksum_address(env.relayer)).call()
    assert liquidity.functions.hasRole(WITHDRAWAL_ROLE, Web3.to_checksum_address(env.withdrawal)).call()
    assert liquidity.functions.hasRole(WITHDRAWAL_ROLE, Web3.to_checksum_address(env.claim)).call()
    assert liquidity.functions.hasRole(b"\x00" * 32, Web3.to_checksum_address(env.admin)).call()
    assert not liquidity.functions.hasRole(RELAYER_ROLE, Web3.to_checksum_address(env.stranger)).call()
    data = revert_data(
        env,
        liquidity.functions.initialize(env.admin, env.admin, env.admin, env.admin, env.admin, env.admin, env.admin, []),
        env.admin,
    )
    assert_custom_error(data, "InvalidInitialization()")


# ---------------------------------------------------------------------------------------------------
# Deposits


def test_deposits_are_queued_with_real_hashes_and_token_indices(env: Env) -> None:
    liquidity = env.liquidity
    extra, _ = deploy_contract(env.w3, "TestERC20", ["Extra", "XTR", 12, env.alice, 0], env.admin)
    receipts = [
        (deposit_eth(env, env.alice, 3 * ETHER, 1), 0, 3 * ETHER, 1),
        (deposit_erc20(env, USDC, env.alice, 250 * 10**6, 2), 3, 250 * 10**6, 2),
        (deposit_erc20(env, WBTC, env.bob, 12_345_678, 3), 2, 12_345_678, 3),
    ]
    # An unknown ERC20 gets the next free index (4) on its first deposit.
    token = contract_at(env.w3, "TestERC20", extra)
    send(env, token.functions.mint(Web3.to_checksum_address(env.bob), 7), env.bob)
    send(env, token.functions.approve(liquidity.address, 7), env.bob)
    receipt = send(env, liquidity.functions.depositERC20(token.address, salt(4), 7, b"", b""), env.bob)
    receipts.append((receipt, 4, 7, 4))
    assert liquidity.functions.getTokenInfo(4).call() == (1, token.address, 0)

    for expected_id, (receipt, token_index, amount, n) in enumerate(receipts, start=1):
        sender = env.w3.eth.get_transaction(receipt["transactionHash"])["from"].lower()
        (log,) = logs_from(receipt, liquidity.address)
        assert topic0_of(log) == TOPIC0["Deposited"]
        args = event(liquidity, "Deposited", log)
        timestamp = env.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        assert args == {
            "depositId": expected_id,
            "sender": Web3.to_checksum_address(sender),
            "recipientSaltHash": salt(n),
            "tokenIndex": token_index,
            "amount": amount,
            "isEligible": True,
            "depositedAt": timestamp,
        }
        expected_hash = hashing.deposit_hash(sender, salt(n), amount, token_index, True)
        assert liquidity.functions.getDepositDataHash(expected_id).call() == expected_hash
        assert liquidity.functions.getDepositData(expected_id).call() == (
            expected_hash,
            Web3.to_checksum_address(sender),
        )
        assert liquidity.functions.doesDepositHashExist(expected_hash).call()
    assert liquidity.functions.getLastDepositId().call() == 4
    assert liquidity.functions.getLastRelayedDepositId().call() == 0
    assert env.w3.eth.get_balance(liquidity.address) == 3 * ETHER
    assert env.contract(USDC).functions.balanceOf(liquidity.address).call() == 250 * 10**6
    assert env.contract(WBTC).functions.balanceOf(liquidity.address).call() == 12_345_678


def test_deposit_rejections(env: Env) -> None:
    liquidity = env.liquidity
    deposit_eth(env, env.alice, ETHER, 1)
    duplicate = hashing.deposit_hash(env.alice, salt(1), ETHER, 0, True)
    data = revert_data(env, liquidity.functions.depositNativeToken(salt(1), b"", b""), env.alice, ETHER)
    assert_custom_error(data, "DepositHashAlreadyExists(bytes32)", (duplicate,))
    data = revert_data(env, liquidity.functions.depositNativeToken(salt(2), b"", b""), env.alice, 0)
    assert_custom_error(data, "TriedToDepositZero()")
    usdc = env.contract(USDC).address
    data = revert_data(env, liquidity.functions.depositERC20(usdc, salt(3), 0, b"", b""), env.alice)
    assert_custom_error(data, "TriedToDepositZero()")
    # No approval: the transferFrom fails.
    data = revert_data(env, liquidity.functions.depositERC20(usdc, salt(3), 5, b"", b""), env.alice)
    assert_custom_error(data, "SafeERC20FailedOperation(address)", (usdc.lower(),))
    send(env, liquidity.functions.pauseDeposits(), env.admin)
    data = revert_data(env, liquidity.functions.depositNativeToken(salt(4), b"", b""), env.alice, ETHER)
    assert_custom_error(data, "EnforcedPause()")
    data = revert_data(env, liquidity.functions.pauseDeposits(), env.stranger)
    assert_custom_error(data, "AccessControlUnauthorizedAccount(address,bytes32)", (env.stranger.lower(), b"\x00" * 32))


# ---------------------------------------------------------------------------------------------------
# Relaying


def test_relay_deposits_sends_process_deposits_through_the_messenger(env: Env) -> None:
    liquidity, messenger = env.liquidity, env.messenger
    for n in (1, 2, 3):
        deposit_eth(env, env.alice, n * ETHER, n)
    hashes = [hashing.deposit_hash(env.alice, salt(n), n * ETHER, 0, True) for n in (1, 2, 3)]

    relayer_before = env.w3.eth.get_balance(Web3.to_checksum_address(env.relayer))
    receipt = send(env, liquidity.functions.relayDeposits(2, GAS_LIMIT), env.relayer, value=10**15)
    message = bytes.fromhex("f03efa37") + encode(["uint256", "bytes32[]"], [2, hashes[:2]])

    (sent_log,) = logs_from(receipt, messenger.address)
    assert topic0_of(sent_log) == TOPIC0["SentMessage"]
    assert event(messenger, "SentMessage", sent_log) == {
        "sender": liquidity.address,
        "target": Web3.to_checksum_address(env.rollup),
        "value": 0,
        "messageNonce": 0,
        "gasLimit": GAS_LIMIT,
        "message": message,
    }
    (relayed_log,) = logs_from(receipt, liquidity.address)
    assert topic0_of(relayed_log) == TOPIC0["DepositsRelayed"]
    assert event(liquidity, "DepositsRelayed", relayed_log) == {
        "upToDepositId": 2,
        "gasLimit": GAS_LIMIT,
        "message": message,
    }
    assert liquidity.functions.getLastRelayedDepositId().call() == 2
    # The messenger keeps its 1 wei fee and refunds the rest of msg.value to the relayer.
    assert env.w3.eth.get_balance(messenger.address) == 1
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert env.w3.eth.get_balance(Web3.to_checksum_address(env.relayer)) == relayer_before - gas_cost - 1

    data = revert_data(env, liquidity.functions.relayDeposits(2, GAS_LIMIT), env.relayer, 10**15)
    assert_custom_error(data, "OutOfRange(uint256,uint256,uint256)", (2, 3, 3))
    data = revert_data(env, liquidity.functions.relayDeposits(4, GAS_LIMIT), env.relayer, 10**15)
    assert_custom_error(data, "OutOfRange(uint256,uint256,uint256)", (4, 3, 3))
    data = revert_data(env, liquidity.functions.relayDeposits(3, GAS_LIMIT), env.stranger, 10**15)
    assert_custom_error(data, "AccessControlUnauthorizedAccount(address,bytes32)", (env.stranger.lower(), RELAYER_ROLE))

    receipt = send(env, liquidity.functions.relayDeposits(3, GAS_LIMIT), env.relayer, value=1)
    (sent_log,) = logs_from(receipt, messenger.address)
    args = event(messenger, "SentMessage", sent_log)
    assert args["messageNonce"] == 1
    assert args["message"] == bytes.fromhex("f03efa37") + encode(["uint256", "bytes32[]"], [3, hashes[2:]])


def test_relay_limit(env: Env) -> None:
    liquidity = env.liquidity
    for n in range(451):
        send(env, liquidity.functions.depositNativeToken(salt(n), b"", b""), env.alice, 1 + n)
    data = revert_data(env, liquidity.functions.relayDeposits(451, GAS_LIMIT), env.relayer, 1)
    assert_custom_error(data, "RelayLimitExceeded()")
    receipt = send(env, liquidity.functions.relayDeposits(450, GAS_LIMIT), env.relayer, value=1)
    args = event(liquidity, "DepositsRelayed", logs_from(receipt, liquidity.address)[0])
    assert len(decode(["uint256", "bytes32[]"], args["message"][4:])[1]) == 450


def test_cancel_deposit_refunds_and_is_skipped_by_the_next_relay(env: Env) -> None:
    liquidity = env.liquidity
    deposit_eth(env, env.alice, ETHER, 1)
    deposit_erc20(env, USDC, env.alice, 40 * 10**6, 2)
    deposit_eth(env, env.bob, 2 * ETHER, 3)
    cancelled = (Web3.to_checksum_address(env.alice), salt(2), 40 * 10**6, 3, True)

    data = revert_data(env, liquidity.functions.cancelDeposit(2, cancelled), env.bob)
    assert_custom_error(data, "OnlySenderCanCancelDeposit()")
    wrong = (cancelled[0], salt(2), 41 * 10**6, 3, True)
    data = revert_data(env, liquidity.functions.cancelDeposit(2, wrong), env.alice)
    stored = hashing.deposit_hash(env.alice, salt(2), 40 * 10**6, 3, True)
    assert_custom_error(
        data,
        "InvalidDepositHash(bytes32,bytes32)",
        (stored, hashing.deposit_hash(env.alice, salt(2), 41 * 10**6, 3, True)),
    )

    usdc = env.contract(USDC)
    before = usdc.functions.balanceOf(Web3.to_checksum_address(env.alice)).call()
    receipt = send(env, liquidity.functions.cancelDeposit(2, cancelled), env.alice)
    (log,) = logs_from(receipt, liquidity.address)
    assert topic0_of(log) == TOPIC0["DepositCanceled"]
    assert event(liquidity, "DepositCanceled", log) == {"depositId": 2}
    assert usdc.functions.balanceOf(Web3.to_checksum_address(env.alice)).call() == before + 40 * 10**6
    assert liquidity.functions.getDepositData(2).call() == (b"\x00" * 32, ZERO_ADDRESS)

    receipt = send(env, liquidity.functions.relayDeposits(3, GAS_LIMIT), env.relayer, value=1)
    args = event(liquidity, "DepositsRelayed", logs_from(receipt, liquidity.address)[0])
    expected = [
        hashing.deposit_hash(env.alice, salt(1), ETHER, 0, True),
        hashing.deposit_hash(env.bob, salt(3), 2 * ETHER, 0, True),
    ]
    assert args["message"] == bytes.fromhex("f03efa37") + encode(["uint256", "bytes32[]"], [3, expected])

    relayed = (Web3.to_checksum_address(env.alice), salt(1), ETHER, 0, True)
    data = revert_data(env, liquidity.functions.cancelDeposit(1, relayed), env.alice)
    assert_custom_error(data, "AlreadyRelayed()")


# ---------------------------------------------------------------------------------------------------
# Withdrawals


def test_process_withdrawals_pays_direct_ones_and_makes_failures_claimable(env: Env) -> None:
    liquidity, messenger = env.liquidity, env.messenger
    fund_liquidity(env)
    send(env, liquidity.functions.setWithdrawalFeeRatio(0, 100), env.admin)  # 1 % on ETH
    rejecting = env.deployment[WBTC].address  # a contract without receive(): send() fails
    direct = [
        hashing.Withdrawal(env.bob, 0, ETHER, keccak(b"n1")),
        hashing.Withdrawal(rejecting, 0, 2 * ETHER, keccak(b"n2")),
        hashing.Withdrawal(env.bob, 3, 100 * 10**6, keccak(b"n3")),
        hashing.Withdrawal(env.bob, 3, 10**30, keccak(b"n4")),  # more USDC than Liquidity holds
    ]
    claimable = [hashing.withdrawal_hash(hashing.Withdrawal(env.bob, 3, 5 * 10**6, keccak(b"n5")))]
    hashes = [hashing.withdrawal_hash(w) for w in direct]
    message = withdrawals_message(direct, claimable)

    bob_eth = env.w3.eth.get_balance(Web3.to_checksum_address(env.bob))
    receipt = relay_l2_message(env, message, sender=env.withdrawal, nonce=7)

    (relayed,) = logs_from(receipt, messenger.address)
    assert topic0_of(relayed) == TOPIC0["RelayedMessage"]
    expected_message_hash = hashing.scroll_message_hash(env.withdrawal, liquidity.address, 0, 7, message)
    assert event(messenger, "RelayedMessage", relayed) == {"messageHash": expected_message_hash}
    assert messenger.functions.isL2MessageExecuted(expected_message_hash).call()

    logs = logs_from(receipt, liquidity.address)
    assert [topic0_of(log) for log in logs] == [
        TOPIC0[n]
        for n in (
            "DirectWithdrawalSuccessed",
            "WithdrawalFeeCollected",
            "DirectWithdrawalFailed",
            "WithdrawalClaimable",
            "DirectWithdrawalSuccessed",
            "DirectWithdrawalFailed",
            "WithdrawalClaimable",
            "WithdrawalClaimable",
        )
    ]
    bob = Web3.to_checksum_address(env.bob)
    assert event(liquidity, "DirectWithdrawalSuccessed", logs[0]) == {"withdrawalHash": hashes[0], "recipient": bob}
    assert event(liquidity, "WithdrawalFeeCollected", logs[1]) == {"token": 0, "amount": ETHER // 100}
    failed = event(liquidity, "DirectWithdrawalFailed", logs[2])
    assert failed["withdrawalHash"] == hashes[1]
    assert tuple(failed["withdrawal"].values()) == (Web3.to_checksum_address(rejecting), 0, 2 * ETHER, keccak(b"n2"))
    assert event(liquidity, "WithdrawalClaimable", logs[3]) == {"withdrawalHash": hashes[1]}
    assert event(liquidity, "DirectWithdrawalSuccessed", logs[4]) == {"withdrawalHash": hashes[2], "recipient": bob}
    assert event(liquidity, "DirectWithdrawalFailed", logs[5])["withdrawalHash"] == hashes[3]
    assert event(liquidity, "WithdrawalClaimable", logs[6]) == {"withdrawalHash": hashes[3]}
    assert event(liquidity, "WithdrawalClaimable", logs[7]) == {"withdrawalHash": claimable[0]}

    timestamp = env.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    for h in (hashes[1], hashes[3], claimable[0]):
        assert liquidity.functions.claimableWithdrawals(h).call() == timestamp
    for h in (hashes[0], hashes[2]):
        assert liquidity.functions.claimableWithdrawals(h).call() == 0
    assert env.w3.eth.get_balance(bob) == bob_eth + ETHER - ETHER // 100
    assert env.contract(USDC).functions.balanceOf(bob).call() == 100 * 10**6
    assert liquidity.functions.collectedWithdrawalFees(0).call() == ETHER // 100

    # The same message again: the messenger refuses it.
    call = messenger.functions.relayMessageWithProof(
        Web3.to_checksum_address(env.withdrawal), liquidity.address, 0, 7, message, DUMMY_PROOF
    )
    assert_revert_string(revert_data(env, call, env.stranger), "Message was already successfully executed")


def test_process_withdrawals_rejects_wrong_senders(env: Env) -> None:
    liquidity, messenger = env.liquidity, env.messenger
    fund_liquidity(env)
    w = hashing.Withdrawal(env.bob, 0, ETHER, keccak(b"n1"))
    message = withdrawals_message([w], [])

    # Cross-domain sender without WITHDRAWAL: the call fails inside, the messenger does not revert.
    receipt = relay_l2_message(env, message, sender=env.stranger, nonce=1)
    (log,) = logs_from(receipt, messenger.address)
    assert topic0_of(log) == TOPIC0["FailedRelayedMessage"]
    failed_hash = hashing.scroll_message_hash(env.stranger, liquidity.address, 0, 1, message)
    assert event(messenger, "FailedRelayedMessage", log) == {"messageHash": failed_hash}
    assert logs_from(receipt, liquidity.address) == []
    assert not messenger.functions.isL2MessageExecuted(failed_hash).call()
    assert messenger.functions.xDomainMessageSender().call() == ZERO_ADDRESS

    # What the failure was: InvalidWithdrawalAddress, seen by calling Liquidity as the messenger would.
    env.w3.provider.make_request("anvil_impersonateAccount", [messenger.address])
    try:
        data = revert_data(env, liquidity.functions.processWithdrawals([], []), messenger.address)
        assert_custom_error(data, "InvalidWithdrawalAddress()")
    finally:
        env.w3.provider.make_request("anvil_stopImpersonatingAccount", [messenger.address])

    items = [(w.recipient, w.token_index, w.amount, w.nullifier)]
    for caller in (env.stranger, env.withdrawal):
        data = revert_data(env, liquidity.functions.processWithdrawals(items, []), caller)
        assert_custom_error(data, "SenderIsNotScrollMessenger()")

    # The Claim contract holds WITHDRAWAL too.
    receipt = relay_l2_message(env, message, sender=env.claim, nonce=2)
    assert topic0_of(logs_from(receipt, messenger.address)[0]) == TOPIC0["RelayedMessage"]
    assert topic0_of(logs_from(receipt, liquidity.address)[0]) == TOPIC0["DirectWithdrawalSuccessed"]


def test_claim_withdrawals(env: Env) -> None:
    liquidity = env.liquidity
    usdc = env.contract(USDC)
    fund_liquidity(env)  # Liquidity holds 1,000 USDC
    send(env, liquidity.functions.setWithdrawalFeeRatio(3, 50), env.admin)  # 0.5 % on USDC
    too_big = hashing.Withdrawal(env.bob, 3, 2_000 * 10**6, keccak(b"big"))
    by_hash = hashing.Withdrawal(env.bob, 3, 10 * 10**6, keccak(b"hash-only"))
    eth = hashing.Withdrawal(env.alice, 0, ETHER, keccak(b"eth"))
    relay_l2_message(
        env,
        withdrawals_message([too_big], [hashing.withdrawal_hash(by_hash), hashing.withdrawal_hash(eth)]),
        sender=env.withdrawal,
    )
    deposit_erc20(env, USDC, env.alice, 5_000 * 10**6, 77)  # now enough USDC for the failed one

    def as_tuple(w: hashing.Withdrawal) -> tuple:
        return (Web3.to_checksum_address(w.recipient), w.token_index, w.amount, w.nullifier)

    bob = Web3.to_checksum_address(env.bob)
    alice = Web3.to_checksum_address(env.alice)
    bob_usdc = usdc.functions.balanceOf(bob).call()
    alice_eth = env.w3.eth.get_balance(alice)
    receipt = send(
        env, liquidity.functions.claimWithdrawals([as_tuple(too_big), as_tuple(by_hash), as_tuple(eth)]), env.stranger
    )
    logs = logs_from(receipt, liquidity.address)
    assert [topic0_of(log) for log in logs] == [
        TOPIC0[n]
        for n in (
            "ClaimedWithdrawal",
            "WithdrawalFeeCollected",
            "ClaimedWithdrawal",
            "WithdrawalFeeCollected",
            "ClaimedWithdrawal",
        )
    ]
    assert event(liquidity, "ClaimedWithdrawal", logs[0]) == {
        "recipient": bob,
        "withdrawalHash": hashing.withdrawal_hash(too_big),
    }
    assert event(liquidity, "WithdrawalFeeCollected", logs[1]) == {"token": 3, "amount": 10 * 10**6}
    assert event(liquidity, "ClaimedWithdrawal", logs[2]) == {
        "recipient": bob,
        "withdrawalHash": hashing.withdrawal_hash(by_hash),
    }
    assert event(liquidity, "ClaimedWithdrawal", logs[4]) == {
        "recipient": alice,
        "withdrawalHash": hashing.withdrawal_hash(eth),
    }
    fee = (2_000 * 10**6 + 10 * 10**6) * 50 // 10_000
    assert usdc.functions.balanceOf(bob).call() == bob_usdc + 2_010 * 10**6 - fee
    assert env.w3.eth.get_balance(alice) == alice_eth + ETHER
    assert liquidity.functions.claimableWithdrawals(hashing.withdrawal_hash(too_big)).call() == 0
    assert liquidity.functions.collectedWithdrawalFees(3).call() == fee

    data = revert_data(env, liquidity.functions.claimWithdrawals([as_tuple(by_hash)]), env.stranger)
    assert_custom_error(data, "WithdrawalNotFound(bytes32)", (hashing.withdrawal_hash(by_hash),))
    never = hashing.Withdrawal(env.bob, 3, 1, keccak(b"never"))
    data = revert_data(env, liquidity.functions.claimWithdrawals([as_tuple(never)]), env.stranger)
    assert_custom_error(data, "WithdrawalNotFound(bytes32)", (hashing.withdrawal_hash(never),))

    # The admin takes the collected fees out.
    receipt = send(env, liquidity.functions.withdrawCollectedFees(Web3.to_checksum_address(env.admin), [3]), env.admin)
    (log,) = logs_from(receipt, liquidity.address)
    assert topic0_of(log) == TOPIC0["WithdrawalFeeWithdrawn"]
    assert usdc.functions.balanceOf(Web3.to_checksum_address(env.admin)).call() >= fee
    assert liquidity.functions.collectedWithdrawalFees(3).call() == 0


def test_withdrawal_fee_ratio_limit(env: Env) -> None:
    liquidity = env.liquidity
    receipt = send(env, liquidity.functions.setWithdrawalFeeRatio(2, 1500), env.admin)
    assert topic0_of(receipt["logs"][0]) == TOPIC0["WithdrawalFeeRatioSet"]
    assert liquidity.functions.withdrawalFeeRatio(2).call() == 1500
    data = revert_data(env, liquidity.functions.setWithdrawalFeeRatio(2, 1501), env.admin)
    assert_custom_error(data, "WithdrawalFeeRatioExceedsLimit()")
    data = revert_data(env, liquidity.functions.setWithdrawalFeeRatio(2, 1), env.relayer)
    assert_custom_error(data, "AccessControlUnauthorizedAccount(address,bytes32)", (env.relayer.lower(), b"\x00" * 32))


def test_update_rollup_contract(env: Env) -> None:
    liquidity = env.liquidity
    receipt = send(env, liquidity.functions.updateRollupContract(Web3.to_checksum_address(env.bob)), env.admin)
    assert topic0_of(receipt["logs"][0]) == TOPIC0["RollupUpdated"]
    deposit_eth(env, env.alice, ETHER, 1)
    receipt = send(env, liquidity.functions.relayDeposits(1, GAS_LIMIT), env.relayer, value=1)
    sent = event(env.messenger, "SentMessage", logs_from(receipt, env.messenger.address)[0])
    assert sent["target"] == Web3.to_checksum_address(env.bob)
    data = revert_data(env, liquidity.functions.updateRollupContract(ZERO_ADDRESS), env.admin)
    assert_custom_error(data, "AddressZero()")


# ---------------------------------------------------------------------------------------------------
# Mock messenger


def test_mock_messenger_send_and_replay(env: Env) -> None:
    messenger = env.messenger
    target = Web3.to_checksum_address(env.bob)
    alice = Web3.to_checksum_address(env.alice)
    receipt = send(env, messenger.functions.sendMessage(target, 5, b"\x01\x02", 123), env.alice, value=100)
    args = event(messenger, "SentMessage", receipt["logs"][0])
    assert args == {
        "sender": alice,
        "target": target,
        "value": 5,
        "messageNonce": 0,
        "gasLimit": 123,
        "message": b"\x01\x02",
    }
    assert env.w3.eth.get_balance(messenger.address) == 6  # value + 1 wei fee; 94 refunded
    data = revert_data(env, messenger.functions.sendMessage(target, 5, b"", 1), env.alice, 5)
    assert_revert_string(data, "insufficient msg.value")

    replay = messenger.functions.replayMessage(alice, target, 5, 0, b"\x01\x02", 999, alice)
    receipt = send(env, replay, env.stranger, value=10)
    args = event(messenger, "SentMessage", receipt["logs"][0])
    assert (args["sender"], args["messageNonce"], args["gasLimit"]) == (alice, 1, 999)
    unknown = messenger.functions.replayMessage(alice, target, 5, 7, b"\x01\x02", 999, alice)
    assert_revert_string(revert_data(env, unknown, env.stranger, 10), "Provided message has not been enqueued")


# ---------------------------------------------------------------------------------------------------
# Minter and ITX


def test_minter(env: Env) -> None:
    minter, itx = env.contract(MINTER), env.contract(ITX)
    liquidity = env.liquidity.address
    amount = itx.functions.MINT_AMOUNT().call()
    receipt = send(env, minter.functions.mint(), env.token_manager)
    (log,) = logs_from(receipt, minter.address)
    assert topic0_of(log) == TOPIC0["Minted"]
    assert event(minter, "Minted", log) == {"amount": amount}
    assert itx.functions.balanceOf(minter.address).call() == amount
    assert itx.functions.decimals().call() == 18

    receipt = send(env, minter.functions.transferToLiquidity(5 * ETHER), env.token_manager)
    (log,) = logs_from(receipt, minter.address)
    assert topic0_of(log) == TOPIC0["TransferredToLiquidity"]
    assert event(minter, "TransferredToLiquidity", log) == {"amount": 5 * ETHER}
    assert itx.functions.balanceOf(liquidity).call() == 5 * ETHER

    bob = Web3.to_checksum_address(env.bob)
    receipt = send(env, minter.functions.transferTo(bob, ETHER), env.admin)
    (log,) = logs_from(receipt, minter.address)
    assert topic0_of(log) == TOPIC0["TransferredTo"]
    assert event(minter, "TransferredTo", log) == {"to": bob, "amount": ETHER}

    manager_role = minter.functions.TOKEN_MANAGER_ROLE().call()
    data = revert_data(env, minter.functions.mint(), env.stranger)
    assert_custom_error(data, "AccessControlUnauthorizedAccount(address,bytes32)", (env.stranger.lower(), manager_role))
    assert_custom_error(revert_data(env, minter.functions.transferToLiquidity(0), env.token_manager), "ZeroAmount()")
    data = revert_data(env, minter.functions.transferToLiquidity(amount), env.token_manager)
    assert_custom_error(data, "InsufficientBalance()")
    data = revert_data(env, minter.functions.transferTo(ZERO_ADDRESS, 1), env.admin)
    assert_custom_error(data, "ZeroRecipient()")
    assert_custom_error(revert_data(env, itx.functions.mint(bob), env.admin), "OnlyMinter()")


# ---------------------------------------------------------------------------------------------------
# Multicall3


def test_multicall3(env: Env) -> None:
    multicall, liquidity = env.contract(MULTICALL3), env.liquidity
    deposit_eth(env, env.alice, 3 * ETHER, 1)
    calls = [
        (multicall.address, False, multicall.encode_abi("getEthBalance", [liquidity.address])),
        (multicall.address, False, multicall.encode_abi("getBlockNumber", [])),
        (liquidity.address, False, liquidity.encode_abi("getTokenInfo", [3])),
        (liquidity.address, True, liquidity.encode_abi("getTokenInfo", [99])),  # out of range: fails
    ]
    results = multicall.functions.aggregate3(calls).call()
    assert [ok for ok, _ in results] == [True, True, True, False]
    assert decode(["uint256"], results[0][1]) == (3 * ETHER,)
    assert decode(["uint256"], results[1][1]) == (env.w3.eth.block_number,)
    assert decode(["(uint8,address,uint256)"], results[2][1])[0][1] == env.deployment[USDC].address
    strict = [*calls[:3], (liquidity.address, False, liquidity.encode_abi("getTokenInfo", [99]))]
    assert_revert_string(revert_data(env, multicall.functions.aggregate3(strict), env.alice), "Multicall3: call failed")
