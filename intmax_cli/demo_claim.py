"""The one thing the demo does by hand: claim a claimable withdrawal on L1, as its recipient would.

A withdrawal whose token Liquidity does not pay directly (or whose direct payment failed) ends
`need_claim`: its recipient calls `Liquidity.claimWithdrawals([(recipient, tokenIndex, amount,
nullifier)])` (selector 0x91f69b7d) from their own wallet, and Liquidity sends `amount - fee` and
emits `ClaimedWithdrawal(recipient, withdrawalHash)`. The simulated users' keys derive from the
devnet mnemonic, so the demo can sign as the recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.logs import DISCARD
from web3.middleware import SignAndSendRawMiddlewareBuilder

from intmax_core.devnet_manifest import DevnetManifest
from intmax_devnet import accounts
from intmax_devnet.deployer import contract_at, transact
from intmax_devnet.devnet import web3_for

# Liquidity's token index -> manifest key of the devnet ERC20 (index 0 is native ETH).
TOKEN_KEYS = {1: "itx", 2: "wbtc", 3: "usdc"}


@dataclass(frozen=True)
class Claim:
    withdrawal_hash: str
    recipient: str
    token_index: int
    amount: int
    tx_hash: str
    block_number: int
    balance_before: int
    balance_after: int

    @property
    def received(self) -> int:
        return self.balance_after - self.balance_before


class ClaimError(RuntimeError):
    pass


def _balance(l1: Web3, manifest: DevnetManifest, token_index: int, holder: str, block: int | str) -> int:
    address = Web3.to_checksum_address(holder)
    if token_index == 0:
        return int(l1.eth.get_balance(address, block_identifier=block))
    entry = manifest.contracts[TOKEN_KEYS[token_index]]
    token = contract_at(l1, entry.contract, entry.address)
    return int(token.functions.balanceOf(address).call(block_identifier=block))


def claim_withdrawal(
    manifest: DevnetManifest, users: int, withdrawal_hash: str, contract_withdrawal: dict[str, Any]
) -> Claim:
    """Send claimWithdrawals for one withdrawal from its recipient's wallet; check the receipt's event."""
    recipient = str(contract_withdrawal["recipient"]).lower()
    user = next((accounts.user(i) for i in range(users) if accounts.user(i).address == recipient), None)
    if user is None:
        raise ClaimError(f"recipient {recipient} is not one of the {users} simulated users")
    token_index, amount = int(contract_withdrawal["tokenIndex"]), int(contract_withdrawal["amount"])
    if token_index != 0 and token_index not in TOKEN_KEYS:
        raise ClaimError(f"token index {token_index} is not a devnet token")
    l1 = web3_for(manifest.l1.rpc_url)
    # The user signs locally, as a wallet does; anvil does not hold the key.
    l1.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build([user.private_key]), name="user", layer=0)
    entry = manifest.contracts["liquidity"]
    liquidity = contract_at(l1, entry.contract, entry.address)
    item = (
        Web3.to_checksum_address(recipient),
        token_index,
        amount,
        bytes.fromhex(str(contract_withdrawal["nullifier"]).removeprefix("0x")),
    )
    before = _balance(l1, manifest, token_index, recipient, "latest")
    receipt = transact(l1, liquidity.functions.claimWithdrawals([item]), user.address)
    claimed = liquidity.events.ClaimedWithdrawal().process_receipt(receipt, errors=DISCARD)
    if not any("0x" + bytes(e["args"]["withdrawalHash"]).hex() == withdrawal_hash for e in claimed):
        raise ClaimError(f"claimWithdrawals emitted no ClaimedWithdrawal for {withdrawal_hash}")
    block = int(receipt["blockNumber"])
    after = _balance(l1, manifest, token_index, recipient, block)
    # Gas is paid in ETH: an ETH claim's balance change is net of it, so compare before the claim's block.
    if token_index == 0:
        before = _balance(l1, manifest, 0, recipient, block - 1)
        gas = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        after += gas
    return Claim(
        withdrawal_hash,
        recipient,
        token_index,
        amount,
        "0x" + bytes(receipt["transactionHash"]).hex(),
        block,
        before,
        after,
    )
