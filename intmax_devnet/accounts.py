"""Devnet accounts, all derived from anvil's public development mnemonic at m/44'/60'/0'/0/{index}.

Indexes 0-5 are the operational roles of the original services (docs/protocol.md §1), so a
pipeline configured with this mnemonic as INTMAX_OWNER_MNEMONIC finds its wallets where it expects
them. Anvil funds indexes 0-9; simulated users start at USER_INDEX_BASE and are funded on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from eth_account import Account
from eth_account.signers.local import LocalAccount

from intmax_devnet.anvil import DEVNET_MNEMONIC

Account.enable_unaudited_hdwallet_features()

ROLE_INDEXES = {
    "builder": 0,
    "deposit_analyzer": 1,  # Liquidity RELAYER: relayDeposits
    "withdrawal_aggregator": 2,  # submitWithdrawalProof on L2, relayMessageWithProof on L1
    "block_builder_reward": 3,
    "token_manager": 4,  # Minter: mint, transferToLiquidity
    "bridge_manager": 5,
    "deployer": 6,  # admin of every devnet contract
    "mock_messenger": 7,  # the mock relayers' key (INTMAX_MOCK_MESSENGER_PRIVATE_KEY)
}
USER_INDEX_BASE = 100
BUILDER_INDEX_BASE = 200


@dataclass(frozen=True)
class DevnetAccount:
    index: int
    address: str  # lowercase
    private_key: str = field(repr=False)  # 0x hex; devnet only, still kept out of reprs and logs

    def signer(self) -> LocalAccount:
        return Account.from_key(self.private_key)


@cache
def account(index: int, mnemonic: str = DEVNET_MNEMONIC) -> DevnetAccount:
    derived = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return DevnetAccount(index=index, address=derived.address.lower(), private_key=derived.key.to_0x_hex())


def role(name: str) -> DevnetAccount:
    return account(ROLE_INDEXES[name])


def user(number: int) -> DevnetAccount:
    return account(USER_INDEX_BASE + number)


def builder(number: int) -> DevnetAccount:
    return account(BUILDER_INDEX_BASE + number)
