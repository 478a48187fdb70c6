// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {
    L2Withdrawal,
    L2ChainedWithdrawal,
    DEPOSIT_TREE_DEPTH,
    accountIdsHashOf,
    blockHashOf,
    chainedWithdrawalHashOf,
    depositHashOf,
    depositTreeInsert,
    depositTreeRootOf,
    registrationPublicKeysHashOf,
    signatureHashOf,
    withdrawalHashOf,
    withdrawalPisHashOf
} from "./IntmaxL2Lib.sol";

/// @title DevnetHashing
/// @notice DEVNET-only: exposes the hashing code that Rollup and Withdrawal run (IntmaxL2Lib.sol), so
/// that tests can compare it with the Python implementation through eth_call. Not part of INTMAX2.
contract DevnetHashing {
    function withdrawalHash(L2Withdrawal calldata w) external pure returns (bytes32) {
        return withdrawalHashOf(w);
    }

    function chainedWithdrawalHash(L2ChainedWithdrawal[] calldata withdrawals) external pure returns (bytes32) {
        return chainedWithdrawalHashOf(withdrawals);
    }

    function withdrawalPisHash(bytes32 lastWithdrawalHash, address withdrawalAggregator)
        external
        pure
        returns (uint256)
    {
        return withdrawalPisHashOf(lastWithdrawalHash, withdrawalAggregator);
    }

    function depositHash(
        address depositor,
        bytes32 recipientSaltHash,
        uint256 amount,
        uint32 tokenIndex,
        bool isEligible
    ) external pure returns (bytes32) {
        return depositHashOf(depositor, recipientSaltHash, amount, tokenIndex, isEligible);
    }

    function blockHash(
        bytes32 prevBlockHash,
        bytes32 depositTreeRoot,
        bytes32 signatureHash,
        uint64 timestamp,
        uint32 blockNumber
    ) external pure returns (bytes32) {
        return blockHashOf(prevBlockHash, depositTreeRoot, signatureHash, timestamp, blockNumber);
    }

    function registrationPublicKeysHash(uint256[] calldata senderPublicKeys) external pure returns (bytes32) {
        return registrationPublicKeysHashOf(senderPublicKeys);
    }

    function accountIdsHash(bytes calldata senderAccountIds) external pure returns (bytes32) {
        return accountIdsHashOf(senderAccountIds);
    }

    function signatureHash(
        bool isRegistrationBlock,
        bytes32 txTreeRoot,
        uint64 expiry,
        address builderAddress,
        uint32 builderNonce,
        bytes16 senderFlags,
        bytes32 publicKeysHash,
        bytes32 accountIdsHash_,
        bytes32[2] calldata aggregatedPublicKey,
        bytes32[4] calldata aggregatedSignature,
        bytes32[4] calldata messagePoint
    ) external pure returns (bytes32) {
        return signatureHashOf(
            isRegistrationBlock,
            txTreeRoot,
            expiry,
            builderAddress,
            builderNonce,
            senderFlags,
            publicKeysHash,
            accountIdsHash_,
            aggregatedPublicKey,
            aggregatedSignature,
            messagePoint
        );
    }

    /// @notice Root of the deposit tree holding `leaves` in order.
    function depositTreeRoot(bytes32[] calldata leaves) external pure returns (bytes32) {
        bytes32[DEPOSIT_TREE_DEPTH] memory branch;
        for (uint256 i = 0; i < leaves.length; i++) {
            depositTreeInsert(branch, i, leaves[i]);
        }
        return depositTreeRootOf(branch, leaves.length);
    }
}
