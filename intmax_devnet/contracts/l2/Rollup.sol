// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IL2ScrollMessenger} from "./L2Interfaces.sol";
import {
    NUM_SENDERS_IN_BLOCK as SENDERS,
    FULL_ACCOUNT_IDS_BYTES as ACCOUNT_IDS_BYTES,
    DEPOSIT_TREE_DEPTH,
    MAX_DEPOSIT_COUNT,
    accountIdsHashOf,
    blockHashOf,
    depositTreeInsert,
    depositTreeRootOf,
    registrationPublicKeysHashOf,
    signatureHashOf
} from "./IntmaxL2Lib.sol";

/// @title Rollup (devnet)
/// @notice INTMAX2 block-hash chain and deposit tree on L2, with the current-source interface
/// (docs/protocol.md §8.2). The real contract is a UUPS proxy; this one is deployed directly and
/// initialised once with `initialize`.
/// DEVNET: no BN254 pairing check, no rate-limit penalty (all of msg.value is refunded), no
/// Contribution recording, no upgrades.
contract Rollup {
    uint256 public constant NUM_SENDERS_IN_BLOCK = SENDERS;
    uint256 public constant FULL_ACCOUNT_IDS_BYTES = ACCOUNT_IDS_BYTES;

    address public owner;
    address public liquidity;
    uint256 public lastProcessedDepositId;
    bytes32[] public blockHashes;
    mapping(address => uint32) public builderRegistrationNonce;
    mapping(address => uint32) public builderNonRegistrationNonce;
    address public l2ScrollMessenger;
    address public contribution; // DEVNET: stored, never called
    bytes32 public depositTreeRoot;
    uint32 public depositIndex;

    bytes32[DEPOSIT_TREE_DEPTH] private depositBranch;
    bool private initialized;

    event BlockPosted(
        bytes32 indexed prevBlockHash,
        address indexed blockBuilder,
        uint64 timestamp,
        uint256 blockNumber,
        bytes32 depositTreeRoot,
        bytes32 signatureHash
    );
    event DepositsProcessed(uint256 indexed lastProcessedDepositId, bytes32 depositTreeRoot);
    event DepositLeafInserted(uint32 indexed depositIndex, bytes32 indexed depositHash);
    event Initialized(uint64 version);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error AddressZero();
    error BlockNumberOutOfRange();
    error Expired();
    error InvalidNonce();
    error MerkleTreeFull();
    error OnlyLiquidity();
    error OnlyScrollMessenger();
    error SenderAccountIdsInvalidLength();
    error TooManyAccountIds();
    error TooManySenderPublicKeys();
    error InvalidInitialization();
    error OwnableUnauthorizedAccount(address account);
    error OwnableInvalidOwner(address owner);
    error RefundFailed(); // DEVNET: the refund of msg.value failed

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    modifier onlyLiquidityContract() {
        address messenger = l2ScrollMessenger;
        if (msg.sender != messenger) revert OnlyScrollMessenger();
        if (liquidity != IL2ScrollMessenger(messenger).xDomainMessageSender()) revert OnlyLiquidity();
        _;
    }

    /// @param _admin owner
    /// @param _scrollMessenger L2ScrollMessenger (MockL2ScrollMessenger on the devnet)
    /// @param _liquidity Liquidity on L1, the only accepted cross-domain sender of processDeposits
    /// @param _contribution DEVNET: may be zero; there is no Contribution contract
    /// Real current source also takes the three rate-limiter constants; the devnet has no rate limit.
    function initialize(address _admin, address _scrollMessenger, address _liquidity, address _contribution)
        external
    {
        if (initialized) revert InvalidInitialization();
        if (_admin == address(0) || _scrollMessenger == address(0) || _liquidity == address(0)) {
            revert AddressZero();
        }
        initialized = true;
        owner = _admin;
        emit OwnershipTransferred(address(0), _admin);
        l2ScrollMessenger = _scrollMessenger;
        liquidity = _liquidity;
        contribution = _contribution;
        bytes32[DEPOSIT_TREE_DEPTH] memory emptyBranch;
        bytes32 root = depositTreeRootOf(emptyBranch, 0);
        depositTreeRoot = root;
        // Genesis (10.5): prev 0, initial deposit root, signature hash 0, timestamp 0, number 0.
        blockHashes.push(blockHashOf(bytes32(0), root, bytes32(0), 0, 0));
        emit Initialized(1);
    }

    function postRegistrationBlock(
        bytes32 txTreeRoot,
        uint64 expiry,
        uint32 builderNonce,
        bytes16 senderFlags,
        bytes32[2] calldata aggregatedPublicKey,
        bytes32[4] calldata aggregatedSignature,
        bytes32[4] calldata messagePoint,
        uint256[] calldata senderPublicKeys
    ) external payable {
        if (expiry != 0 && expiry <= block.timestamp) revert Expired();
        _refund();
        if (senderPublicKeys.length > SENDERS) revert TooManySenderPublicKeys();
        bytes32 signatureHash = signatureHashOf(
            true,
            txTreeRoot,
            expiry,
            msg.sender,
            builderNonce,
            senderFlags,
            registrationPublicKeysHashOf(senderPublicKeys),
            bytes32(0),
            aggregatedPublicKey,
            aggregatedSignature,
            messagePoint
        );
        _postBlock(true, builderNonce, signatureHash);
    }

    function postNonRegistrationBlock(
        bytes32 txTreeRoot,
        uint64 expiry,
        uint32 builderNonce,
        bytes16 senderFlags,
        bytes32[2] calldata aggregatedPublicKey,
        bytes32[4] calldata aggregatedSignature,
        bytes32[4] calldata messagePoint,
        bytes32 publicKeysHash,
        bytes calldata senderAccountIds
    ) external payable {
        if (expiry != 0 && expiry <= block.timestamp) revert Expired();
        _refund();
        if (senderAccountIds.length > ACCOUNT_IDS_BYTES) revert TooManyAccountIds();
        if (senderAccountIds.length % 5 != 0) revert SenderAccountIdsInvalidLength();
        bytes32 signatureHash = signatureHashOf(
            false,
            txTreeRoot,
            expiry,
            msg.sender,
            builderNonce,
            senderFlags,
            publicKeysHash,
            accountIdsHashOf(senderAccountIds),
            aggregatedPublicKey,
            aggregatedSignature,
            messagePoint
        );
        _postBlock(false, builderNonce, signatureHash);
    }

    /// @notice L1 -> L2 deposit delivery: Liquidity.relayDeposits via the Scroll messenger.
    function processDeposits(uint256 _lastProcessedDepositId, bytes32[] calldata depositHashes)
        external
        onlyLiquidityContract
    {
        bytes32[DEPOSIT_TREE_DEPTH] memory branch = depositBranch;
        uint32 index = depositIndex;
        for (uint256 i = 0; i < depositHashes.length; i++) {
            if (index >= MAX_DEPOSIT_COUNT) revert MerkleTreeFull();
            depositTreeInsert(branch, index, depositHashes[i]);
            emit DepositLeafInserted(index, depositHashes[i]);
            index++;
        }
        depositBranch = branch;
        depositIndex = index;
        lastProcessedDepositId = _lastProcessedDepositId;
        bytes32 root = depositTreeRootOf(branch, index);
        depositTreeRoot = root;
        emit DepositsProcessed(_lastProcessedDepositId, root);
    }

    function getLatestBlockNumber() external view returns (uint32) {
        return uint32(blockHashes.length - 1);
    }

    function getBlockHash(uint32 blockNumber) external view returns (bytes32) {
        if (blockNumber >= blockHashes.length) revert BlockNumberOutOfRange();
        return blockHashes[blockNumber];
    }

    /// @notice DEVNET: always 0 (no rate limiter).
    function getPenalty() external pure returns (uint256) {
        return 0;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert OwnableInvalidOwner(address(0));
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function _postBlock(bool isRegistrationBlock, uint32 builderNonce, bytes32 signatureHash) private {
        // Nonce 0 skips the check; otherwise per builder and block type: nonce >= stored, stored = nonce + 1.
        if (builderNonce != 0) {
            mapping(address => uint32) storage nonces =
                isRegistrationBlock ? builderRegistrationNonce : builderNonRegistrationNonce;
            if (builderNonce < nonces[msg.sender]) revert InvalidNonce();
            nonces[msg.sender] = builderNonce + 1;
        }
        // DEVNET: no BN254 pairing check (PairingCheckFailed) of the aggregated BLS signature.
        uint32 blockNumber = uint32(blockHashes.length);
        bytes32 prevBlockHash = blockHashes[blockNumber - 1];
        bytes32 root = depositTreeRoot;
        uint64 timestamp = uint64(block.timestamp);
        blockHashes.push(blockHashOf(prevBlockHash, root, signatureHash, timestamp, blockNumber));
        emit BlockPosted(prevBlockHash, msg.sender, timestamp, blockNumber, root, signatureHash);
        // DEVNET: no POST_BLOCK contribution.
    }

    // DEVNET: the real contract keeps the rate-limit penalty and refunds only the excess.
    function _refund() private {
        if (msg.value > 0) {
            (bool ok, ) = payable(msg.sender).call{value: msg.value}("");
            if (!ok) revert RefundFailed();
        }
    }
}
