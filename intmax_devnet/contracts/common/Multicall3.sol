// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title Multicall3 (devnet)
/// @notice Batches read calls, with the same function selectors and return layouts as the canonical
///         Multicall3 deployed at 0xcA11bde05977b3631167028862bE2a173976CA11 on public chains.
/// @dev DEVNET: a subset of the canonical contract (no aggregate3Value, blockAndAggregate,
///      tryBlockAndAggregate, coinbase/difficulty/gas-limit getters). Deployed at a normal address.
contract Multicall3 {
	/// @notice A call whose failure reverts the whole batch (aggregate, tryAggregate).
	struct Call {
		address target;
		bytes callData;
	}

	/// @notice A call with its own failure policy (aggregate3).
	struct Call3 {
		address target;
		bool allowFailure;
		bytes callData;
	}

	/// @notice The outcome of one call.
	struct Result {
		bool success;
		bytes returnData;
	}

	/// @notice Runs every call; reverts "Multicall3: call failed" if any fails.
	function aggregate(
		Call[] calldata calls
	) external payable returns (uint256 blockNumber, bytes[] memory returnData) {
		blockNumber = block.number;
		returnData = new bytes[](calls.length);
		for (uint256 i = 0; i < calls.length; i++) {
			(bool success, bytes memory data) = calls[i].target.call(calls[i].callData);
			require(success, "Multicall3: call failed");
			returnData[i] = data;
		}
	}

	/// @notice Runs every call; reverts on a failure only when requireSuccess is set.
	function tryAggregate(
		bool requireSuccess,
		Call[] calldata calls
	) external payable returns (Result[] memory returnData) {
		returnData = new Result[](calls.length);
		for (uint256 i = 0; i < calls.length; i++) {
			(bool success, bytes memory data) = calls[i].target.call(calls[i].callData);
			require(success || !requireSuccess, "Multicall3: call failed");
			returnData[i] = Result(success, data);
		}
	}

	/// @notice Runs every call; a failing call reverts the batch unless its allowFailure is set.
	function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory returnData) {
		returnData = new Result[](calls.length);
		for (uint256 i = 0; i < calls.length; i++) {
			(bool success, bytes memory data) = calls[i].target.call(calls[i].callData);
			require(success || calls[i].allowFailure, "Multicall3: call failed");
			returnData[i] = Result(success, data);
		}
	}

	/// @notice The hash of block `blockNumber` (zero outside the last 256 blocks).
	function getBlockHash(uint256 blockNumber) external view returns (bytes32 blockHash) {
		blockHash = blockhash(blockNumber);
	}

	/// @notice The current block number.
	function getBlockNumber() external view returns (uint256 blockNumber) {
		blockNumber = block.number;
	}

	/// @notice The current block timestamp.
	function getCurrentBlockTimestamp() external view returns (uint256 timestamp) {
		timestamp = block.timestamp;
	}

	/// @notice The ETH balance of `addr`.
	function getEthBalance(address addr) external view returns (uint256 balance) {
		balance = addr.balance;
	}

	/// @notice The hash of the previous block.
	function getLastBlockHash() external view returns (bytes32 blockHash) {
		blockHash = blockhash(block.number - 1);
	}

	/// @notice The current base fee.
	function getBasefee() external view returns (uint256 basefee) {
		basefee = block.basefee;
	}

	/// @notice The chain id.
	function getChainId() external view returns (uint256 chainid) {
		chainid = block.chainid;
	}
}
