"""The devnet's single-withdrawal proof: what the simulator stores in `withdrawals.single_withdrawal_proof`.

In production the withdrawal-server stores a compressed plonky2 proof that the prover gateway
chains into a withdrawal proof; the chain-proof response then carries the withdrawal it proves
(recipient, tokenIndex, amount, nullifier, blockHash, blockNumber). The devnet stand-in needs the
same facts, so its proof is: MAGIC ‖ abi.encode(those six fields) ‖ a 65-byte signature by the
devnet prover key over keccak(MAGIC ‖ payload). Tampering with any byte invalidates it.
"""

from __future__ import annotations

from eth_abi import decode, encode
from eth_account import Account
from eth_hash.auto import keccak

from intmax_core.chain.hashing import ChainedWithdrawal
from intmax_devnet.prover_key import DEVNET_PROVER_ADDRESS, DEVNET_PROVER_PRIVATE_KEY

MAGIC = b"INTMAX2-DEVNET-SWP1"
FIELDS = ("address", "uint32", "uint256", "bytes32", "bytes32", "uint32")
SIGNATURE_LENGTH = 65


class InvalidSingleWithdrawalProof(ValueError):
    pass


def _hex_bytes(value: bytes | str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value


def encode_proof(withdrawal: ChainedWithdrawal, private_key: bytes = DEVNET_PROVER_PRIVATE_KEY) -> bytes:
    payload = encode(
        FIELDS,
        [
            withdrawal.recipient if isinstance(withdrawal.recipient, str) else "0x" + withdrawal.recipient.hex(),
            withdrawal.token_index,
            withdrawal.amount,
            _hex_bytes(withdrawal.nullifier),
            _hex_bytes(withdrawal.block_hash),
            withdrawal.block_number,
        ],
    )
    signed = Account.unsafe_sign_hash(keccak(MAGIC + payload), private_key)
    signature = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    return MAGIC + payload + signature


def decode_proof(proof: bytes) -> ChainedWithdrawal:
    """The withdrawal a devnet proof proves; raises InvalidSingleWithdrawalProof if it is not genuine."""
    if not proof.startswith(MAGIC) or len(proof) != len(MAGIC) + 32 * len(FIELDS) + SIGNATURE_LENGTH:
        raise InvalidSingleWithdrawalProof("not a devnet single-withdrawal proof")
    payload, signature = proof[len(MAGIC) : -SIGNATURE_LENGTH], proof[-SIGNATURE_LENGTH:]
    try:
        signer = Account._recover_hash(
            keccak(MAGIC + payload),
            vrs=(signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")),
        )
    except Exception as error:
        raise InvalidSingleWithdrawalProof("malformed signature") from error
    if signer.lower() != DEVNET_PROVER_ADDRESS:
        raise InvalidSingleWithdrawalProof("not signed by the devnet prover")
    recipient, token_index, amount, nullifier, block_hash, block_number = decode(FIELDS, payload)
    return ChainedWithdrawal(
        recipient=recipient.lower(),
        token_index=token_index,
        amount=amount,
        nullifier="0x" + nullifier.hex(),
        block_hash="0x" + block_hash.hex(),
        block_number=block_number,
    )
