// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title DevVerifier
/// @notice DEVNET stand-in for the gnark PLONK withdrawal verifier, with the same interface
/// (`Verify(bytes,uint256[])`, selector 0x7e4f7a8a). A "proof" is a 65-byte ECDSA signature
/// (r ‖ s ‖ v, v = 27 or 28) by the devnet prover key over keccak256(abi.encodePacked(publicInputs)),
/// the raw digest without the Ethereum message prefix. Anything else returns false; it never reverts.
/// DEVNET: no zero-knowledge proof is checked at all.
contract DevVerifier {
    address public immutable prover;

    constructor(address _prover) {
        prover = _prover;
    }

    function Verify(bytes calldata proof, uint256[] calldata publicInputs) external view returns (bool) {
        if (proof.length != 65) return false;
        bytes32 r = bytes32(proof[0:32]);
        bytes32 s = bytes32(proof[32:64]);
        uint8 v = uint8(proof[64]);
        if (v != 27 && v != 28) return false;
        bytes32 digest = keccak256(abi.encodePacked(publicInputs));
        address signer = ecrecover(digest, v, r, s);
        return signer != address(0) && signer == prover;
    }
}
