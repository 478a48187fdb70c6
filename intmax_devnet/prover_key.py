"""The devnet withdrawal "prover": a fixed development key whose signatures DevVerifier accepts.

DEVELOPMENT ONLY. The private key below is public (it is derived from a fixed string), so anything
it signs proves nothing. On the devnet the L2 Withdrawal contract is wired to `DevVerifier`, which
stands in for the PLONK verifier: a "proof" is a 65-byte ECDSA signature (r ‖ s ‖ v, v = 27/28) by
this key over keccak256 of the public inputs, each a 32-byte big-endian word (the raw digest, with
no Ethereum message prefix). Withdrawal passes `[circuitDigest, pisHash]` (docs/protocol.md §8.3, §10.3).
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_account import Account
from eth_hash.auto import keccak

UINT256_MAX = (1 << 256) - 1

# DEVELOPMENT ONLY: keccak256(b"intmax2 devnet prover"). Never fund or reuse this key elsewhere.
DEVNET_PROVER_PRIVATE_KEY: bytes = keccak(b"intmax2 devnet prover")
DEVNET_PROVER_ADDRESS: str = Account.from_key(DEVNET_PROVER_PRIVATE_KEY).address.lower()

# The devnet's stand-in for the withdrawal circuit's verifying-key digest (the verifier's first public
# input). Any value works as long as Withdrawal.circuitDigest and the prover agree; this one is
# keccak256(b"intmax2 devnet withdrawal circuit") reduced to 253 bits, like a BN254 scalar.
DEVNET_WITHDRAWAL_CIRCUIT_DIGEST: int = int.from_bytes(keccak(b"intmax2 devnet withdrawal circuit"), "big") & (
    (1 << 253) - 1
)


def public_inputs_digest(public_inputs: Sequence[int]) -> bytes:
    """keccak256(abi.encodePacked(uint256[] publicInputs)): what DevVerifier checks the signature against."""
    words = []
    for value in public_inputs:
        if not 0 <= int(value) <= UINT256_MAX:
            raise ValueError(f"public input {value} is not a uint256")
        words.append(int(value).to_bytes(32, "big"))
    return keccak(b"".join(words))


def sign_public_inputs(public_inputs: Sequence[int], private_key: bytes = DEVNET_PROVER_PRIVATE_KEY) -> bytes:
    """The 65-byte proof (r ‖ s ‖ v with v 27/28) that DevVerifier.Verify accepts for `public_inputs`.

    `private_key` exists so that tests can produce a proof signed by the wrong key.
    """
    signed = Account.unsafe_sign_hash(public_inputs_digest(public_inputs), private_key)
    proof = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    assert len(proof) == 65 and proof[64] in (27, 28)
    return proof


def withdrawal_proof(circuit_digest: int, pis_hash: int, private_key: bytes = DEVNET_PROVER_PRIVATE_KEY) -> bytes:
    """The proof for Withdrawal.submitWithdrawalProof: a signature over [circuitDigest, pisHash].

    `pis_hash` is `intmax_core.chain.hashing.withdrawal_pis_hash(lastWithdrawalHash, aggregator)`.
    """
    return sign_public_inputs([circuit_digest, pis_hash], private_key)
