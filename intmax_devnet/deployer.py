"""Deploy devnet contracts from the committed artifacts (intmax_devnet/artifacts/<Contract>.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
# Generous ceiling: the devnet contracts are compiled via IR and some constructors are large.
DEPLOY_RECEIPT_TIMEOUT_SECONDS = 60


class DeploymentError(RuntimeError):
    pass


@cache
def _load_artifact(name: str) -> dict:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise DeploymentError(f"no artifact {path}: run `python -m intmax_devnet.compile`")
    return json.loads(path.read_text())


def load_artifact(name: str) -> dict:
    """The artifact of contract `name` ({"abi": [...], "bytecode": "0x..", ...})."""
    return _load_artifact(name)


def contract_abi(name: str) -> list[dict]:
    return load_artifact(name)["abi"]


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for the deployed contract `name` at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=contract_abi(name))


def deploy_contract(w3: Web3, name: str, args: list[Any] | tuple[Any, ...], sender: str) -> tuple[str, int]:
    """Deploy contract `name` with constructor `args` from the unlocked account `sender`.

    Returns (address in lowercase, block number of the deployment). Raises DeploymentError when the
    deployment transaction reverts.
    """
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(*args).transact({"from": Web3.to_checksum_address(sender)})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=DEPLOY_RECEIPT_TIMEOUT_SECONDS)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise DeploymentError(f"deploying {name} failed (tx {tx_hash.hex()})")
    return receipt["contractAddress"].lower(), int(receipt["blockNumber"])


@dataclass(frozen=True)
class DeployedContract:
    """One deployed devnet contract: its artifact name, lowercase address and deployment block."""

    contract: str
    address: str
    block_number: int


def transact(w3: Web3, call: ContractFunction, sender: str, *, value: int = 0) -> TxReceipt:
    """Send `call` from the unlocked account `sender`, wait for it and raise DeploymentError on a revert."""
    tx_hash = call.transact({"from": Web3.to_checksum_address(sender), "value": value})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=DEPLOY_RECEIPT_TIMEOUT_SECONDS)
    if receipt["status"] != 1:
        raise DeploymentError(f"{call.fn_name} reverted (tx {tx_hash.hex()})")
    return receipt
