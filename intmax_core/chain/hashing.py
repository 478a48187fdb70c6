"""The INTMAX2 hashing schemes, byte-exact with the contracts (docs/protocol.md §10).

Every function takes plain Python values (ints, bytes or 0x-hex strings) and returns the 32-byte
digest as bytes. `hex32` renders one the way the warehouse stores hashes (lowercase 0x hex).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_hash.auto import keccak

ZERO_HASH = b"\x00" * 32
# The withdrawal public-input hash is reduced to 253 bits so that it fits the BN254 scalar field.
PIS_HASH_MASK = (1 << 253) - 1
DEPOSIT_TREE_DEPTH = 32
# Padding values of the signature hash (docs/protocol.md §10.6): unused sender slots count as key `1`
# and account id `00 00 00 00 01`.
MAX_SENDERS_PER_BLOCK = 128
ACCOUNT_ID_BYTES = 5
PADDING_PUBLIC_KEY = 1
PADDING_ACCOUNT_ID = (1).to_bytes(ACCOUNT_ID_BYTES, "big")

Bytes32Like = bytes | str
AddressLike = bytes | str


def _bytes(value: bytes | str, size: int) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith("0x") else value) if isinstance(value, str) else value
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes, got {len(raw)}")
    return raw


def _uint(value: int, size: int) -> bytes:
    return int(value).to_bytes(size, "big")


def hex32(digest: bytes) -> str:
    return "0x" + digest.hex()


@dataclass(frozen=True)
class Withdrawal:
    """WithdrawalLib.Withdrawal: what L1 pays out."""

    recipient: AddressLike
    token_index: int
    amount: int
    nullifier: Bytes32Like


@dataclass(frozen=True)
class ChainedWithdrawal:
    """ChainedWithdrawalLib.ChainedWithdrawal: a withdrawal plus the INTMAX block it is proven in."""

    recipient: AddressLike
    token_index: int
    amount: int
    nullifier: Bytes32Like
    block_hash: Bytes32Like
    block_number: int


def withdrawal_hash(w: Withdrawal) -> bytes:
    """§10.1: keccak(recipient 20 ‖ tokenIndex 4 ‖ amount 32 ‖ nullifier 32), the pre-fee amount."""
    return keccak(_bytes(w.recipient, 20) + _uint(w.token_index, 4) + _uint(w.amount, 32) + _bytes(w.nullifier, 32))


def chained_withdrawal_hash(withdrawals: Iterable[ChainedWithdrawal]) -> bytes:
    """§10.2: h_i = keccak(h_{i-1} ‖ recipient ‖ tokenIndex ‖ amount ‖ nullifier ‖ blockHash ‖ blockNumber)."""
    h = ZERO_HASH
    for w in withdrawals:
        h = keccak(
            h
            + _bytes(w.recipient, 20)
            + _uint(w.token_index, 4)
            + _uint(w.amount, 32)
            + _bytes(w.nullifier, 32)
            + _bytes(w.block_hash, 32)
            + _uint(w.block_number, 4)
        )
    return h


def withdrawal_pis_hash(last_withdrawal_hash: Bytes32Like, withdrawal_aggregator: AddressLike) -> int:
    """§10.3: uint256(keccak(lastWithdrawalHash ‖ aggregator)) masked to 253 bits (the verifier's input)."""
    digest = keccak(_bytes(last_withdrawal_hash, 32) + _bytes(withdrawal_aggregator, 20))
    return int.from_bytes(digest, "big") & PIS_HASH_MASK


def deposit_hash(
    depositor: AddressLike, recipient_salt_hash: Bytes32Like, amount: int, token_index: int, is_eligible: bool
) -> bytes:
    """§10.4: keccak(depositor 20 ‖ recipientSaltHash 32 ‖ amount 32 ‖ tokenIndex 4 ‖ uint32(isEligible))."""
    return keccak(
        _bytes(depositor, 20)
        + _bytes(recipient_salt_hash, 32)
        + _uint(amount, 32)
        + _uint(token_index, 4)
        + _uint(1 if is_eligible else 0, 4)
    )


def block_hash(
    prev_block_hash: Bytes32Like,
    deposit_tree_root: Bytes32Like,
    signature_hash: Bytes32Like,
    timestamp: int,
    block_number: int,
) -> bytes:
    """§10.5: keccak(prev 32 ‖ depositTreeRoot 32 ‖ signatureHash 32 ‖ timestamp u64 ‖ blockNumber u32)."""
    return keccak(
        _bytes(prev_block_hash, 32)
        + _bytes(deposit_tree_root, 32)
        + _bytes(signature_hash, 32)
        + _uint(timestamp, 8)
        + _uint(block_number, 4)
    )


def registration_public_keys_hash(sender_public_keys: Sequence[int]) -> bytes:
    """§10.6 registration block: keccak of 128 uint256 words, unused slots filled with 1."""
    if len(sender_public_keys) > MAX_SENDERS_PER_BLOCK:
        raise ValueError(f"at most {MAX_SENDERS_PER_BLOCK} sender public keys")
    padded = list(sender_public_keys) + [PADDING_PUBLIC_KEY] * (MAX_SENDERS_PER_BLOCK - len(sender_public_keys))
    return keccak(b"".join(_uint(k, 32) for k in padded))


def account_ids_hash(sender_account_ids: bytes) -> bytes:
    """§10.6 non-registration block: keccak of 640 bytes, unused 5-byte slots filled with 00..01."""
    if len(sender_account_ids) % ACCOUNT_ID_BYTES or len(sender_account_ids) > ACCOUNT_ID_BYTES * MAX_SENDERS_PER_BLOCK:
        raise ValueError("sender account ids must be a multiple of 5 bytes, at most 640")
    slots = MAX_SENDERS_PER_BLOCK - len(sender_account_ids) // ACCOUNT_ID_BYTES
    return keccak(sender_account_ids + PADDING_ACCOUNT_ID * slots)


def signature_hash(
    *,
    is_registration_block: bool,
    tx_tree_root: Bytes32Like,
    expiry: int,
    builder_address: AddressLike,
    builder_nonce: int,
    sender_flags: bytes | str,
    public_keys_hash: Bytes32Like,
    account_ids_hash: Bytes32Like,
    aggregated_public_key: Sequence[Bytes32Like],
    aggregated_signature: Sequence[Bytes32Like],
    message_point: Sequence[Bytes32Like],
) -> bytes:
    """§10.6: the 468-byte preimage of Rollup._postBlock."""
    if (len(aggregated_public_key), len(aggregated_signature), len(message_point)) != (2, 4, 4):
        raise ValueError("aggregatedPublicKey has 2 words, aggregatedSignature and messagePoint 4 each")
    return keccak(
        _uint(1 if is_registration_block else 0, 4)
        + _bytes(tx_tree_root, 32)
        + _uint(expiry, 8)
        + _bytes(builder_address, 20)
        + _uint(builder_nonce, 4)
        + _bytes(sender_flags, 16)
        + _bytes(public_keys_hash, 32)
        + _bytes(account_ids_hash, 32)
        + b"".join(_bytes(w, 32) for w in aggregated_public_key)
        + b"".join(_bytes(w, 32) for w in aggregated_signature)
        + b"".join(_bytes(w, 32) for w in message_point)
    )


class DepositTree:
    """§10.7: the incremental depth-32 keccak Merkle tree of deposit hashes kept by Rollup."""

    EMPTY_LEAF = keccak(b"\x00" * 92)

    def __init__(self) -> None:
        self.zeros = [self.EMPTY_LEAF]
        for _ in range(DEPOSIT_TREE_DEPTH):
            self.zeros.append(keccak(self.zeros[-1] * 2))
        self.branch = [ZERO_HASH] * DEPOSIT_TREE_DEPTH
        self.count = 0

    def insert(self, leaf: Bytes32Like) -> None:
        node = _bytes(leaf, 32)
        index = self.count
        self.count += 1
        for height in range(DEPOSIT_TREE_DEPTH):
            if index & 1 == 0:
                self.branch[height] = node
                return
            node = keccak(self.branch[height] + node)
            index >>= 1

    def root(self) -> bytes:
        node = self.EMPTY_LEAF
        size = self.count
        for height in range(DEPOSIT_TREE_DEPTH):
            # A set bit means a full left subtree is stored in the branch at this height.
            node = keccak(self.branch[height] + node) if size & 1 else keccak(node + self.zeros[height])
            size >>= 1
        return node


def scroll_message_hash(sender: AddressLike, target: AddressLike, value: int, nonce: int, message: bytes) -> bytes:
    """§10.8: keccak of the relayMessage(address,address,uint256,uint256,bytes) calldata."""
    padded = message + b"\x00" * (-len(message) % 32)
    return keccak(
        bytes.fromhex("8ef1332e")
        + b"\x00" * 12
        + _bytes(sender, 20)
        + b"\x00" * 12
        + _bytes(target, 20)
        + _uint(value, 32)
        + _uint(nonce, 32)
        + _uint(0xA0, 32)
        + _uint(len(message), 32)
        + padded
    )
