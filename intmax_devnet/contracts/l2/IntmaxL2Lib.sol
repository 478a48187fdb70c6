// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

// Shared structs and hashing of the INTMAX2 L2 contracts (docs/protocol.md §7.4 and §10).
// Free functions, so that Rollup, Withdrawal and DevnetHashing run the very same code and no
// library artifact is emitted. Struct names carry an L2 prefix to stay unique across the devnet;
// the ABI tuple types are the real ones.

// WithdrawalLib.Withdrawal: (address,uint32,uint256,bytes32)
struct L2Withdrawal {
    address recipient;
    uint32 tokenIndex;
    uint256 amount;
    bytes32 nullifier;
}

// ChainedWithdrawalLib.ChainedWithdrawal: (address,uint32,uint256,bytes32,bytes32,uint32)
struct L2ChainedWithdrawal {
    address recipient;
    uint32 tokenIndex;
    uint256 amount;
    bytes32 nullifier;
    bytes32 blockHash;
    uint32 blockNumber;
}

// WithdrawalProofPublicInputsLib.WithdrawalProofPublicInputs: (bytes32,address)
struct L2WithdrawalProofPublicInputs {
    bytes32 lastWithdrawalHash;
    address withdrawalAggregator;
}

uint256 constant NUM_SENDERS_IN_BLOCK = 128;
uint256 constant FULL_ACCOUNT_IDS_BYTES = NUM_SENDERS_IN_BLOCK * 5;
uint256 constant DEPOSIT_TREE_DEPTH = 32;
uint256 constant MAX_DEPOSIT_COUNT = 2 ** DEPOSIT_TREE_DEPTH - 1;
// 10.3: the public-input hash is reduced to 253 bits (BN254 scalar field).
uint256 constant PIS_HASH_MASK = (1 << 253) - 1;

// 10.1
function withdrawalHashOf(L2Withdrawal memory w) pure returns (bytes32) {
    return keccak256(abi.encodePacked(w.recipient, w.tokenIndex, w.amount, w.nullifier));
}

// 10.2: h_0 = 0, h_i = keccak(h_{i-1} ‖ recipient ‖ tokenIndex ‖ amount ‖ nullifier ‖ blockHash ‖ blockNumber)
function chainedWithdrawalHashOf(L2ChainedWithdrawal[] memory withdrawals) pure returns (bytes32 h) {
    for (uint256 i = 0; i < withdrawals.length; i++) {
        L2ChainedWithdrawal memory w = withdrawals[i];
        h = keccak256(
            abi.encodePacked(h, w.recipient, w.tokenIndex, w.amount, w.nullifier, w.blockHash, w.blockNumber)
        );
    }
}

// 10.3
function withdrawalPisHashOf(bytes32 lastWithdrawalHash, address withdrawalAggregator) pure returns (uint256) {
    return uint256(keccak256(abi.encodePacked(lastWithdrawalHash, withdrawalAggregator))) & PIS_HASH_MASK;
}

// 10.4
function depositHashOf(
    address depositor,
    bytes32 recipientSaltHash,
    uint256 amount,
    uint32 tokenIndex,
    bool isEligible
) pure returns (bytes32) {
    return keccak256(abi.encodePacked(depositor, recipientSaltHash, amount, tokenIndex, uint32(isEligible ? 1 : 0)));
}

// 10.5
function blockHashOf(
    bytes32 prevBlockHash,
    bytes32 depositTreeRoot,
    bytes32 signatureHash,
    uint64 timestamp,
    uint32 blockNumber
) pure returns (bytes32) {
    return keccak256(abi.encodePacked(prevBlockHash, depositTreeRoot, signatureHash, timestamp, blockNumber));
}

// 10.6 registration block: 128 uint256 words, unused slots = 1. Caller checks the length.
function registrationPublicKeysHashOf(uint256[] memory senderPublicKeys) pure returns (bytes32) {
    uint256[NUM_SENDERS_IN_BLOCK] memory padded;
    for (uint256 i = 0; i < NUM_SENDERS_IN_BLOCK; i++) {
        padded[i] = i < senderPublicKeys.length ? senderPublicKeys[i] : 1;
    }
    return keccak256(abi.encodePacked(padded));
}

// 10.6 non-registration block: 640 bytes, unused 5-byte slots = 00 00 00 00 01. Caller checks the length.
function accountIdsHashOf(bytes memory senderAccountIds) pure returns (bytes32) {
    bytes memory padded = new bytes(FULL_ACCOUNT_IDS_BYTES);
    uint256 length = senderAccountIds.length;
    for (uint256 i = 0; i < length; i++) {
        padded[i] = senderAccountIds[i];
    }
    for (uint256 i = length; i < FULL_ACCOUNT_IDS_BYTES; i += 5) {
        padded[i + 4] = 0x01;
    }
    return keccak256(padded);
}

// 10.6: the 468-byte preimage of Rollup._postBlock.
function signatureHashOf(
    bool isRegistrationBlock,
    bytes32 txTreeRoot,
    uint64 expiry,
    address builderAddress,
    uint32 builderNonce,
    bytes16 senderFlags,
    bytes32 publicKeysHash,
    bytes32 accountIdsHash,
    bytes32[2] memory aggregatedPublicKey,
    bytes32[4] memory aggregatedSignature,
    bytes32[4] memory messagePoint
) pure returns (bytes32) {
    return keccak256(
        abi.encodePacked(
            uint32(isRegistrationBlock ? 1 : 0),
            txTreeRoot,
            expiry,
            builderAddress,
            builderNonce,
            senderFlags,
            publicKeysHash,
            accountIdsHash,
            aggregatedPublicKey,
            aggregatedSignature,
            messagePoint
        )
    );
}

// 10.7: incremental depth-32 keccak tree (eth2 deposit contract style). The empty leaf is the
// deposit hash of the all-zero Deposit.
function depositTreeEmptyLeaf() pure returns (bytes32) {
    return depositHashOf(address(0), bytes32(0), 0, 0, false);
}

// Inserts `leaf` as leaf number `count` (0-based) into `branch`, in place.
function depositTreeInsert(bytes32[DEPOSIT_TREE_DEPTH] memory branch, uint256 count, bytes32 leaf) pure {
    bytes32 node = leaf;
    uint256 size = count + 1;
    for (uint256 height = 0; height < DEPOSIT_TREE_DEPTH; height++) {
        if ((size >> height) & 1 == 1) {
            branch[height] = node;
            return;
        }
        node = keccak256(abi.encodePacked(branch[height], node));
    }
    assert(false); // unreachable while count < MAX_DEPOSIT_COUNT
}

function depositTreeRootOf(bytes32[DEPOSIT_TREE_DEPTH] memory branch, uint256 count) pure returns (bytes32) {
    bytes32 zero = depositTreeEmptyLeaf();
    bytes32 node = zero;
    for (uint256 height = 0; height < DEPOSIT_TREE_DEPTH; height++) {
        if ((count >> height) & 1 == 1) {
            node = keccak256(abi.encodePacked(branch[height], node));
        } else {
            node = keccak256(abi.encodePacked(node, zero));
        }
        zero = keccak256(abi.encodePacked(zero, zero));
    }
    return node;
}
