// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IL2ScrollMessenger, IPlonkVerifier, IRollupBlockHashes, ILiquidityWithdrawals} from "./L2Interfaces.sol";
import {
    L2Withdrawal,
    L2ChainedWithdrawal,
    L2WithdrawalProofPublicInputs,
    chainedWithdrawalHashOf,
    withdrawalHashOf,
    withdrawalPisHashOf
} from "./IntmaxL2Lib.sol";

/// @title Withdrawal (devnet)
/// @notice Verifies aggregated withdrawal proofs and relays them to Liquidity on L1
/// (docs/protocol.md §8.3, current source). The real contract is a UUPS proxy; this one is deployed
/// directly and initialised once with `initialize`.
/// DEVNET: the verifier is DevVerifier (an ECDSA signature by the devnet prover key stands in for the
/// PLONK proof); no Contribution recording, no migration functions, no upgrades.
contract Withdrawal {
    uint256 private constant RELAY_LIMIT = 100;

    address public owner;
    uint256 public circuitDigest;
    mapping(bytes32 => bool) public nullifiers;

    IPlonkVerifier private withdrawalVerifier;
    IL2ScrollMessenger private l2ScrollMessenger;
    IRollupBlockHashes private rollup;
    address private liquidity;
    address private contribution; // DEVNET: stored, never called

    // An enumerable set (same order semantics as OpenZeppelin's EnumerableSet.UintSet).
    uint256[] private directTokenValues;
    mapping(uint256 => uint256) private directTokenPositions; // value -> index + 1
    bool private initialized;

    event DirectWithdrawalQueued(
        bytes32 indexed withdrawalHash,
        address indexed recipient,
        L2Withdrawal withdrawal
    );
    event ClaimableWithdrawalQueued(
        bytes32 indexed withdrawalHash,
        address indexed recipient,
        L2Withdrawal withdrawal
    );
    event DirectWithdrawalTokenIndicesAdded(uint256[] tokenIndices);
    event DirectWithdrawalTokenIndicesRemoved(uint256[] tokenIndices);
    event VerifierUpdated(address indexed withdrawalVerifier);
    event CircuitDigestUpdated(uint256 circuitDigest);
    event Initialized(uint64 version);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error AddressZero();
    error BlockHashNotExists(bytes32 blockHash);
    error RelayLimitExceeded();
    error TokenAlreadyExist(uint256 tokenIndice);
    error TokenNotExist(uint256 tokenIndice);
    error WithdrawalAggregatorMismatch();
    error WithdrawalChainVerificationFailed();
    error WithdrawalProofVerificationFailed();
    error InvalidInitialization();
    error OwnableUnauthorizedAccount(address account);
    error OwnableInvalidOwner(address owner);

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    /// @notice Owner = msg.sender (as in the bundled ABI's initialize).
    /// @param _contribution DEVNET: may be zero; there is no Contribution contract.
    function initialize(
        address _scrollMessenger,
        address _withdrawalVerifier,
        address _liquidity,
        address _rollup,
        address _contribution,
        uint256[] calldata _directWithdrawalTokenIndices
    ) external {
        if (initialized) revert InvalidInitialization();
        if (
            _scrollMessenger == address(0) ||
            _withdrawalVerifier == address(0) ||
            _liquidity == address(0) ||
            _rollup == address(0)
        ) revert AddressZero();
        initialized = true;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        l2ScrollMessenger = IL2ScrollMessenger(_scrollMessenger);
        withdrawalVerifier = IPlonkVerifier(_withdrawalVerifier);
        liquidity = _liquidity;
        rollup = IRollupBlockHashes(_rollup);
        contribution = _contribution;
        for (uint256 i = 0; i < _directWithdrawalTokenIndices.length; i++) {
            _addToken(_directWithdrawalTokenIndices[i]);
        }
        emit Initialized(1);
    }

    function submitWithdrawalProof(
        L2ChainedWithdrawal[] calldata withdrawals,
        L2WithdrawalProofPublicInputs calldata publicInputs,
        bytes calldata proof
    ) external {
        // 1. validate
        if (chainedWithdrawalHashOf(withdrawals) != publicInputs.lastWithdrawalHash) {
            revert WithdrawalChainVerificationFailed();
        }
        if (publicInputs.withdrawalAggregator != msg.sender) revert WithdrawalAggregatorMismatch();
        uint256[] memory pis = new uint256[](2);
        pis[0] = circuitDigest;
        pis[1] = withdrawalPisHashOf(publicInputs.lastWithdrawalHash, publicInputs.withdrawalAggregator);
        if (!withdrawalVerifier.Verify(proof, pis)) revert WithdrawalProofVerificationFailed();

        // 2. per item: skip spent nullifiers, check the block hash, classify
        uint256 directCount = 0;
        uint256 claimableCount = 0;
        bool[] memory skipped = new bool[](withdrawals.length);
        for (uint256 i = 0; i < withdrawals.length; i++) {
            L2ChainedWithdrawal calldata w = withdrawals[i];
            if (nullifiers[w.nullifier]) {
                skipped[i] = true;
                continue;
            }
            nullifiers[w.nullifier] = true;
            if (rollup.getBlockHash(w.blockNumber) != w.blockHash) revert BlockHashNotExists(w.blockHash);
            if (_isDirect(w.tokenIndex)) {
                directCount++;
            } else {
                claimableCount++;
            }
        }
        // 3. nothing left: no message, no events
        if (directCount + claimableCount == 0) return;
        // 4.
        if (directCount + claimableCount > RELAY_LIMIT) revert RelayLimitExceeded();

        // 5. events, in order
        L2Withdrawal[] memory direct = new L2Withdrawal[](directCount);
        bytes32[] memory claimableHashes = new bytes32[](claimableCount);
        uint256 d = 0;
        uint256 c = 0;
        for (uint256 i = 0; i < withdrawals.length; i++) {
            if (skipped[i]) continue;
            L2ChainedWithdrawal calldata cw = withdrawals[i];
            L2Withdrawal memory w = L2Withdrawal(cw.recipient, cw.tokenIndex, cw.amount, cw.nullifier);
            bytes32 hash = withdrawalHashOf(w);
            if (_isDirect(cw.tokenIndex)) {
                direct[d++] = w;
                emit DirectWithdrawalQueued(hash, w.recipient, w);
            } else {
                claimableHashes[c++] = hash;
                emit ClaimableWithdrawalQueued(hash, w.recipient, w);
            }
        }

        // 6. message to Liquidity.processWithdrawals on L1
        bytes memory message =
            abi.encodeWithSelector(ILiquidityWithdrawals.processWithdrawals.selector, direct, claimableHashes);
        l2ScrollMessenger.sendMessage{value: 0}(liquidity, 0, message, type(uint256).max, msg.sender);
        // 7. DEVNET: no WITHDRAWAL contribution.
    }

    function getDirectWithdrawalTokenIndices() external view returns (uint256[] memory) {
        return directTokenValues;
    }

    function addDirectWithdrawalTokenIndices(uint256[] calldata tokenIndices) external onlyOwner {
        for (uint256 i = 0; i < tokenIndices.length; i++) {
            if (!_addToken(tokenIndices[i])) revert TokenAlreadyExist(tokenIndices[i]);
        }
        emit DirectWithdrawalTokenIndicesAdded(tokenIndices);
    }

    function removeDirectWithdrawalTokenIndices(uint256[] calldata tokenIndices) external onlyOwner {
        for (uint256 i = 0; i < tokenIndices.length; i++) {
            if (!_removeToken(tokenIndices[i])) revert TokenNotExist(tokenIndices[i]);
        }
        emit DirectWithdrawalTokenIndicesRemoved(tokenIndices);
    }

    function setCircuitDigest(uint256 _circuitDigest) external onlyOwner {
        circuitDigest = _circuitDigest;
        emit CircuitDigestUpdated(_circuitDigest);
    }

    function updateVerifier(address _withdrawalVerifier) external onlyOwner {
        if (_withdrawalVerifier == address(0)) revert AddressZero();
        withdrawalVerifier = IPlonkVerifier(_withdrawalVerifier);
        emit VerifierUpdated(_withdrawalVerifier);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert OwnableInvalidOwner(address(0));
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function _isDirect(uint32 tokenIndex) private view returns (bool) {
        return directTokenPositions[tokenIndex] != 0;
    }

    function _addToken(uint256 value) private returns (bool) {
        if (directTokenPositions[value] != 0) return false;
        directTokenValues.push(value);
        directTokenPositions[value] = directTokenValues.length;
        return true;
    }

    function _removeToken(uint256 value) private returns (bool) {
        uint256 position = directTokenPositions[value];
        if (position == 0) return false;
        uint256 last = directTokenValues[directTokenValues.length - 1];
        directTokenValues[position - 1] = last;
        directTokenPositions[last] = position;
        directTokenValues.pop();
        delete directTokenPositions[value];
        return true;
    }
}
