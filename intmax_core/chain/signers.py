"""Signing keys, from settings only: the owner mnemonic at the originals' role indexes, or a private key.

A `Signer` holds its key privately: its repr, str and errors show only the address, and it never
logs. It signs locally (eth_account); nothing but signed transactions leaves the process.
"""

from __future__ import annotations

import enum
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr

Account.enable_unaudited_hdwallet_features()

DERIVATION_PATH = "m/44'/60'/0'/0/{index}"


class SignerRole(enum.IntEnum):
    """Address indexes of the originals' operational wallets (docs/protocol.md §1)."""

    BUILDER = 0
    DEPOSIT_ANALYZER = 1  # L1 relayDeposits
    WITHDRAWAL_AGGREGATOR = 2  # L2 submitWithdrawalProof; L1 relayMessageWithProof
    BLOCK_BUILDER_REWARD = 3
    TOKEN_MANAGER = 4  # L1 Minter mint / transferToLiquidity


class SignerError(ValueError):
    """A key could not be loaded. The message never contains the key material."""


def _reveal(secret: SecretStr | str) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


class Signer:
    """One account that signs transactions locally."""

    __slots__ = ("_account", "address")

    def __init__(self, account: LocalAccount) -> None:
        self._account = account
        self.address: str = account.address.lower()

    @classmethod
    def from_private_key(cls, private_key: SecretStr | str) -> Signer:
        # Raised outside the handler, so that no traceback chains eth_account's message (which may echo the key).
        try:
            account = Account.from_key(_reveal(private_key))
        except Exception:
            account = None
        if account is None:
            raise SignerError("invalid private key")
        return cls(account)

    @classmethod
    def from_mnemonic(cls, mnemonic: SecretStr | str, index: int) -> Signer:
        if index < 0:
            raise SignerError("address index must be >= 0")
        try:
            account = Account.from_mnemonic(_reveal(mnemonic), account_path=DERIVATION_PATH.format(index=index))
        except Exception:
            account = None
        if account is None:
            raise SignerError(f"invalid mnemonic (address index {index})")
        return cls(account)

    def sign_transaction(self, transaction: dict[str, Any]) -> tuple[bytes, str]:
        """(raw signed transaction, its hash as lowercase 0x hex)."""
        signed = self._account.sign_transaction(transaction)
        return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()

    def __repr__(self) -> str:
        return f"Signer(address={self.address}, key=**********)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Signer is not picklable: build it from settings in each process")


def signer_for_role(settings: Any, role: SignerRole) -> Signer:
    """The operational wallet for `role`, from INTMAX_OWNER_MNEMONIC."""
    mnemonic = getattr(settings, "owner_mnemonic", None)
    if mnemonic is None:
        raise SignerError(f"INTMAX_OWNER_MNEMONIC is not set: no key for the {role.name.lower()} wallet")
    return Signer.from_mnemonic(mnemonic, int(role))


def mock_messenger_signer(settings: Any) -> Signer:
    """The devnet mock relayers' key, from INTMAX_MOCK_MESSENGER_PRIVATE_KEY."""
    key = getattr(settings, "mock_messenger_private_key", None)
    if key is None:
        raise SignerError("INTMAX_MOCK_MESSENGER_PRIVATE_KEY is not set")
    return Signer.from_private_key(key)
