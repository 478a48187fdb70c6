// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The part of Liquidity that BulkDepositor calls.
interface IBulkDepositLiquidity {
	function depositNativeToken(
		bytes32 recipientSaltHash,
		bytes calldata amlPermission,
		bytes calldata eligibilityPermission
	) external payable;
}

/// @notice DEVNET / BENCHMARK ONLY: not part of INTMAX2 and never deployed by the devnet itself.
/// It exists only to generate many Deposited events quickly (benchmarks/indexing.py): one
/// transaction makes `count` native-token deposits into Liquidity.
contract BulkDepositor {
	error NothingToDeposit();
	error ValueNotDivisible(uint256 value, uint256 count);

	/// @notice Makes `count` deposits of msg.value / count wei each, with recipientSaltHash
	/// keccak256(abi.encode(saltSeed, i)) for i in [0, count). Deposit hashes must be unique, so
	/// every call needs a fresh `saltSeed` (or a different amount).
	function depositMany(address liquidity, uint256 count, uint256 saltSeed) external payable {
		if (count == 0) {
			revert NothingToDeposit();
		}
		if (msg.value == 0 || msg.value % count != 0) {
			revert ValueNotDivisible(msg.value, count);
		}
		uint256 amount = msg.value / count;
		IBulkDepositLiquidity target = IBulkDepositLiquidity(liquidity);
		for (uint256 i = 0; i < count; ++i) {
			target.depositNativeToken{value: amount}(keccak256(abi.encode(saltSeed, i)), "", "");
		}
	}
}
