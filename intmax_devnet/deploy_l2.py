"""Deploy and wire the INTMAX2 L2 (Scroll side) devnet contracts.

Two steps, as in the real deployment (deploy L2, deploy L1, then initialise L2 with L1 addresses):

1. `deploy_l2(w3, deployer, withdrawal_aggregator=...)` deploys MockL2ScrollMessenger, DevVerifier
   (keyed to `prover_key.DEVNET_PROVER_ADDRESS`), Rollup, Withdrawal, BlockBuilderRegistry and
   Multicall3, and initialises BlockBuilderRegistry (admin = deployer). Rollup and Withdrawal stay
   uninitialised because both need the L1 Liquidity address.
2. `initialize_l2(w3, deployment, liquidity=...)` calls `Rollup.initialize` (which also stores the
   genesis block hash), `Withdrawal.initialize` and `Withdrawal.setCircuitDigest`.

The real contracts are UUPS proxies; the devnet deploys the implementations directly and calls their
`initialize` once (a second call reverts `InvalidInitialization()`). There is no Contribution contract:
its address is passed as zero and never called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web3 import Web3
from web3.contract import Contract

from intmax_devnet.deployer import (
    DEPLOY_RECEIPT_TIMEOUT_SECONDS,
    DeployedContract,
    contract_at,
    deploy_contract,
    transact,
)
from intmax_devnet.prover_key import DEVNET_PROVER_ADDRESS, DEVNET_WITHDRAWAL_CIRCUIT_DIGEST

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
# Token indexes withdrawn directly on L1 (the others become claimable), as in the real deploy script:
# 0 = ETH, 1 = ITX, 2 = WBTC (3 = USDC is claimable).
DEFAULT_DIRECT_WITHDRAWAL_TOKEN_INDICES: tuple[int, ...] = (0, 1, 2)
# The aggregator pays L2 gas for submitWithdrawalProof; deploy_l2 tops it up to this when it is below.
AGGREGATOR_MIN_BALANCE_WEI = 10**18
AGGREGATOR_TOP_UP_WEI = 10 * 10**18

# deployment key -> artifact (contract) name, in deployment order
L2_CONTRACTS: dict[str, str] = {
    "l2_scroll_messenger": "MockL2ScrollMessenger",
    "withdrawal_verifier": "DevVerifier",
    "rollup": "Rollup",
    "withdrawal": "Withdrawal",
    "block_builder_registry": "BlockBuilderRegistry",
    "multicall3": "Multicall3",
}


def deploy_l2(
    w3: Web3,
    deployer: str,
    *,
    withdrawal_aggregator: str,
    prover_address: str = DEVNET_PROVER_ADDRESS,
) -> dict[str, DeployedContract]:
    """Deploy every L2 contract from the unlocked account `deployer`; keys as in `L2_CONTRACTS`.

    `withdrawal_aggregator` is the wallet that will call Withdrawal.submitWithdrawalProof. The real
    contract keeps no aggregator list (it only requires publicInputs.withdrawalAggregator ==
    msg.sender), so here it is only checked and funded: when its L2 balance is below 1 ETH the
    deployer sends it 10 ETH. `prover_address` is the key DevVerifier accepts proofs from.
    """
    deployer = _address(deployer)
    aggregator = _address(withdrawal_aggregator)
    constructor_args: dict[str, list[Any]] = {"withdrawal_verifier": [Web3.to_checksum_address(prover_address)]}
    deployment: dict[str, DeployedContract] = {}
    for key, name in L2_CONTRACTS.items():
        address, block_number = deploy_contract(w3, name, constructor_args.get(key, []), deployer)
        deployment[key] = DeployedContract(contract=name, address=address, block_number=block_number)

    registry = _contract(w3, deployment["block_builder_registry"])
    transact(w3, registry.functions.initialize(Web3.to_checksum_address(deployer)), deployer)

    if w3.eth.get_balance(Web3.to_checksum_address(aggregator)) < AGGREGATOR_MIN_BALANCE_WEI:
        tx_hash = w3.eth.send_transaction(
            {
                "from": Web3.to_checksum_address(deployer),
                "to": Web3.to_checksum_address(aggregator),
                "value": AGGREGATOR_TOP_UP_WEI,
            }
        )
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=DEPLOY_RECEIPT_TIMEOUT_SECONDS)
    return deployment


def initialize_l2(
    w3: Web3,
    deployment: dict[str, DeployedContract],
    *,
    admin: str,
    liquidity: str,
    direct_withdrawal_token_indices: Sequence[int] = DEFAULT_DIRECT_WITHDRAWAL_TOKEN_INDICES,
    circuit_digest: int = DEVNET_WITHDRAWAL_CIRCUIT_DIGEST,
) -> None:
    """Wire L2 to the L1 `liquidity` address, from `admin` (the account that deployed the contracts).

    - Rollup.initialize(admin = deployer, scrollMessenger, liquidity, contribution = 0): Liquidity
      becomes the only accepted cross-domain sender of processDeposits; the genesis block is stored.
    - Withdrawal.initialize(scrollMessenger, DevVerifier, liquidity, rollup, contribution = 0,
      direct_withdrawal_token_indices): Liquidity becomes the target of processWithdrawals messages;
      the owner is the deployer.
    - Withdrawal.setCircuitDigest(circuit_digest): the first public input the prover signs.
    """
    rollup_info = deployment["rollup"]
    sender = admin
    messenger = Web3.to_checksum_address(deployment["l2_scroll_messenger"].address)
    liquidity_address = Web3.to_checksum_address(_address(liquidity))
    rollup_address = Web3.to_checksum_address(rollup_info.address)

    rollup = _contract(w3, rollup_info)
    transact(
        w3,
        rollup.functions.initialize(Web3.to_checksum_address(sender), messenger, liquidity_address, ZERO_ADDRESS),
        sender,
    )
    withdrawal_info = deployment["withdrawal"]
    withdrawal = _contract(w3, withdrawal_info)
    transact(
        w3,
        withdrawal.functions.initialize(
            messenger,
            Web3.to_checksum_address(deployment["withdrawal_verifier"].address),
            liquidity_address,
            rollup_address,
            ZERO_ADDRESS,
            [int(i) for i in direct_withdrawal_token_indices],
        ),
        admin,
    )
    transact(w3, withdrawal.functions.setCircuitDigest(int(circuit_digest)), admin)


def _address(value: str) -> str:
    if not Web3.is_address(value):
        raise ValueError(f"not an address: {value!r}")
    return value.lower()


def _contract(w3: Web3, info: DeployedContract) -> Contract:
    return contract_at(w3, info.contract, info.address)
