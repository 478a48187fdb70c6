// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title BareERC20
/// @notice EIP-20 balances and allowances without name/symbol/decimals, for tokens whose metadata
///         functions deviate from the standard (the cases the token-map register must survive).
/// @dev DEVNET ONLY. Same transfer rules as L1ERC20: string reverts on insufficient balance or
///      allowance; an allowance of type(uint256).max is never decreased; anyone may mint.
abstract contract BareERC20 {
	/// @notice Total amount in existence.
	uint256 public totalSupply;
	/// @notice Balance of each holder.
	mapping(address => uint256) public balanceOf;
	/// @notice allowance[owner][spender].
	mapping(address => mapping(address => uint256)) public allowance;

	/// @notice `value` moved from `from` to `to` (from = 0 on mint).
	event Transfer(address indexed from, address indexed to, uint256 value);
	/// @notice `owner` allowed `spender` to move `value`.
	event Approval(address indexed owner, address indexed spender, uint256 value);

	/// @notice Moves `value` from the caller to `to`.
	function transfer(address to, uint256 value) external returns (bool) {
		_transfer(msg.sender, to, value);
		return true;
	}

	/// @notice Lets `spender` move up to `value` of the caller's tokens.
	function approve(address spender, uint256 value) external returns (bool) {
		allowance[msg.sender][spender] = value;
		emit Approval(msg.sender, spender, value);
		return true;
	}

	/// @notice Moves `value` from `from` to `to` using the caller's allowance.
	function transferFrom(address from, address to, uint256 value) external returns (bool) {
		uint256 allowed = allowance[from][msg.sender];
		if (allowed != type(uint256).max) {
			require(allowed >= value, "ERC20: insufficient allowance");
			allowance[from][msg.sender] = allowed - value;
		}
		_transfer(from, to, value);
		return true;
	}

	/// @notice DEVNET faucet: mints `amount` to `to`, callable by anyone.
	function mint(address to, uint256 amount) external {
		require(to != address(0), "ERC20: mint to the zero address");
		totalSupply += amount;
		balanceOf[to] += amount;
		emit Transfer(address(0), to, amount);
	}

	/// @dev Moves tokens; reverts on insufficient balance or the zero recipient.
	function _transfer(address from, address to, uint256 value) internal {
		require(to != address(0), "ERC20: transfer to the zero address");
		uint256 balance = balanceOf[from];
		require(balance >= value, "ERC20: transfer amount exceeds balance");
		unchecked {
			balanceOf[from] = balance - value;
		}
		balanceOf[to] += value;
		emit Transfer(from, to, value);
	}
}

/// @title Bytes32SymbolERC20
/// @notice A token whose name() and symbol() return bytes32, as MKR (Maker) and SAI do on mainnet:
///         a reader expecting an ABI string gets 32 bytes of right-padded text instead.
/// @dev DEVNET ONLY: exercises the token-map register's bytes32 decoding.
contract Bytes32SymbolERC20 is BareERC20 {
	/// @notice Token name, right-padded with NUL bytes.
	bytes32 public name;
	/// @notice Token symbol, right-padded with NUL bytes.
	bytes32 public symbol;
	/// @notice Number of decimals of the token's amounts.
	uint8 public immutable decimals;

	/// @notice Sets the metadata.
	constructor(bytes32 name_, bytes32 symbol_, uint8 decimals_) {
		name = name_;
		symbol = symbol_;
		decimals = decimals_;
	}
}

/// @title RevertingSymbolERC20
/// @notice A token whose symbol() always reverts (a broken or non-standard token); decimals() works.
/// @dev DEVNET ONLY: exercises the token-map register's per-token failure path.
contract RevertingSymbolERC20 is BareERC20 {
	/// @notice Number of decimals of the token's amounts.
	uint8 public immutable decimals;

	/// @notice Sets the decimals.
	constructor(uint8 decimals_) {
		decimals = decimals_;
	}

	/// @notice Always reverts.
	function symbol() external pure returns (string memory) {
		revert("RevertingSymbolERC20: no symbol");
	}
}
