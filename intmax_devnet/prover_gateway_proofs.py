"""The devnet prover gateway's proof formats: chain proofs, wrapper proofs and gnark proofs.

DEVELOPMENT ONLY. The real gateway produces plonky2 and PLONK proofs; the devnet stand-in signs
what those proofs would attest with the public devnet prover key (intmax_devnet.prover_key), so
each stage can check that its input really came from the previous one:

- chain proof (base64 in the 7.1 responses): CHAIN_MAGIC ‖ chained hash (32) ‖ withdrawal count
  (uint32) ‖ signature over keccak(CHAIN_MAGIC ‖ hash ‖ count). The chained hash is the one of
  docs/protocol.md §10.2 over every withdrawal chained so far, so a wrong order or a wrong previous
  proof gives a different hash;
- wrapper proof (a JSON string, like plonky2's ProofWithPublicInputs): the last chained hash, the
  withdrawal aggregator and their public-input hash (§10.3), signed the same way;
- gnark proof: the 65-byte signature DevVerifier accepts over [circuitDigest, pisHash] (§8.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from eth_abi.packed import encode_packed
from eth_account import Account
from eth_hash.auto import keccak

from intmax_core.chain.hashing import ZERO_HASH, ChainedWithdrawal, withdrawal_pis_hash
from intmax_devnet.prover_key import (
    DEVNET_PROVER_ADDRESS,
    DEVNET_PROVER_PRIVATE_KEY,
    DEVNET_WITHDRAWAL_CIRCUIT_DIGEST,
    withdrawal_proof,
)

CHAIN_MAGIC = b"INTMAX2-DEVNET-CHAIN1"
WRAPPER_MAGIC = b"INTMAX2-DEVNET-WRAP1"
WRAPPER_FORMAT = "intmax2-devnet-wrapper-v1"
SIGNATURE_LENGTH = 65
# The chained-hash step of docs/protocol.md §10.2, packed: prev ‖ recipient ‖ tokenIndex ‖ amount ‖
# nullifier ‖ blockHash ‖ blockNumber.
CHAIN_STEP_TYPES = ("bytes32", "address", "uint32", "uint256", "bytes32", "bytes32", "uint32")
CHAIN_PROOF_LENGTH = len(CHAIN_MAGIC) + 32 + 4 + SIGNATURE_LENGTH


class InvalidProof(ValueError):
    """A chain or wrapper proof that this stand-in did not produce (or that was tampered with)."""


@dataclass(frozen=True)
class ChainProof:
    chained_hash: bytes
    count: int


@dataclass(frozen=True)
class WrapperProof:
    last_withdrawal_hash: bytes
    withdrawal_aggregator: str  # lowercase 0x address
    pis_hash: int


def _hex(value: bytes | str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value


def _sign(message: bytes) -> bytes:
    signed = Account.unsafe_sign_hash(keccak(message), DEVNET_PROVER_PRIVATE_KEY)
    return signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])


def _check_signature(message: bytes, signature: bytes) -> None:
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidProof("malformed signature")
    try:
        signer = Account._recover_hash(
            keccak(message),
            vrs=(signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")),
        )
    except Exception as error:
        raise InvalidProof("malformed signature") from error
    if signer.lower() != DEVNET_PROVER_ADDRESS:
        raise InvalidProof("not signed by the devnet prover")


def chain_step(prev_hash: bytes, withdrawal: ChainedWithdrawal) -> bytes:
    """One step of the chained withdrawal hash (docs/protocol.md §10.2), from any previous hash."""
    recipient = withdrawal.recipient if isinstance(withdrawal.recipient, str) else "0x" + withdrawal.recipient.hex()
    return keccak(
        encode_packed(
            CHAIN_STEP_TYPES,
            [
                prev_hash,
                recipient,
                withdrawal.token_index,
                withdrawal.amount,
                _hex(withdrawal.nullifier),
                _hex(withdrawal.block_hash),
                withdrawal.block_number,
            ],
        )
    )


def encode_chain_proof(chained_hash: bytes, count: int) -> bytes:
    body = CHAIN_MAGIC + chained_hash + count.to_bytes(4, "big")
    return body + _sign(body)


def decode_chain_proof(proof: bytes) -> ChainProof:
    if len(proof) != CHAIN_PROOF_LENGTH or not proof.startswith(CHAIN_MAGIC):
        raise InvalidProof("not a devnet withdrawal chain proof")
    body, signature = proof[:-SIGNATURE_LENGTH], proof[-SIGNATURE_LENGTH:]
    _check_signature(body, signature)
    chained_hash = body[len(CHAIN_MAGIC) : len(CHAIN_MAGIC) + 32]
    return ChainProof(chained_hash, int.from_bytes(body[-4:], "big"))


def extend_chain(previous: bytes | None, withdrawal: ChainedWithdrawal) -> bytes:
    """The chain proof of `withdrawal` appended to `previous` (None: the first of a chain)."""
    prev = decode_chain_proof(previous) if previous is not None else ChainProof(ZERO_HASH, 0)
    return encode_chain_proof(chain_step(prev.chained_hash, withdrawal), prev.count + 1)


def encode_wrapper_proof(chain_proof: bytes, withdrawal_aggregator: str) -> str:
    """The wrapper proof binding the last chain proof to the aggregator that will submit it."""
    last_hash = decode_chain_proof(chain_proof).chained_hash
    aggregator = _hex(withdrawal_aggregator)
    if len(aggregator) != 20:
        raise InvalidProof("withdrawalAggregator must be a 20-byte address")
    signature = _sign(WRAPPER_MAGIC + last_hash + aggregator)
    return json.dumps(
        {
            "format": WRAPPER_FORMAT,
            "public_inputs": {
                "last_withdrawal_hash": "0x" + last_hash.hex(),
                "withdrawal_aggregator": "0x" + aggregator.hex(),
                "pis_hash": str(withdrawal_pis_hash(last_hash, aggregator)),
            },
            "proof": "0x" + signature.hex(),
        },
        separators=(",", ":"),
    )


def decode_wrapper_proof(text: str) -> WrapperProof:
    try:
        raw = json.loads(text)
        inputs = raw["public_inputs"]
        last_hash = _hex(inputs["last_withdrawal_hash"])
        aggregator = _hex(inputs["withdrawal_aggregator"])
        signature = _hex(raw["proof"])
        pis_hash = int(inputs["pis_hash"])
    except (ValueError, TypeError, KeyError) as error:
        raise InvalidProof("not a devnet wrapper proof") from error
    if raw.get("format") != WRAPPER_FORMAT or len(last_hash) != 32 or len(aggregator) != 20:
        raise InvalidProof("not a devnet wrapper proof")
    _check_signature(WRAPPER_MAGIC + last_hash + aggregator, signature)
    if pis_hash != withdrawal_pis_hash(last_hash, aggregator):
        raise InvalidProof("the wrapper proof's pis_hash does not match its inputs")
    return WrapperProof(last_hash, "0x" + aggregator.hex(), pis_hash)


def gnark_proof(wrapper_text: str) -> tuple[list[str], str]:
    """(publicInputs as decimal strings, proof as hex without 0x) for a genuine wrapper proof."""
    wrapper = decode_wrapper_proof(wrapper_text)
    proof = withdrawal_proof(DEVNET_WITHDRAWAL_CIRCUIT_DIGEST, wrapper.pis_hash)
    return [str(DEVNET_WITHDRAWAL_CIRCUIT_DIGEST), str(wrapper.pis_hash)], proof.hex()
