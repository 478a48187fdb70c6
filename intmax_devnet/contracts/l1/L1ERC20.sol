// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title L1ERC20
/// @notice Minimal EIP-20 token (name, symbol, decimals, balances, allowances, Transfer/Approval).
/// @dev Reverts with a string on insufficient balance or allowance. An allowance of
///      type(uint256).max is never decreased.
abstract contract L1ERC20 {
	/// @notice Token name.
	string public name;
	/// @notice Token symbol.
	string public symbol;
	/// @notice Number of decimals of the token's amounts.
	uint8 public immutable decimals;
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

	/// @notice Sets the token metadata.
	constructor(string memory name_, string memory symbol_, uint8 decimals_) {
		name = name_;
		symbol = symbol_;
		decimals = decimals_;
	}

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

	/// @dev Creates `value` tokens for `to`.
	function _mint(address to, uint256 value) internal {
		require(to != address(0), "ERC20: mint to the zero address");
		totalSupply += value;
		balanceOf[to] += value;
		emit Transfer(address(0), to, value);
	}
}

/// @title TestERC20
/// @notice A freely mintable test token (e.g. USDC-like with 6 decimals, WBTC-like with 8).
/// @dev DEVNET ONLY: anyone may mint; the simulator uses mint() as a faucet.
contract TestERC20 is L1ERC20 {
	/// @notice Creates the token and gives `initialSupply` to `initialHolder`.
	constructor(
		string memory name_,
		string memory symbol_,
		uint8 decimals_,
		address initialHolder,
		uint256 initialSupply
	) L1ERC20(name_, symbol_, decimals_) {
		if (initialSupply > 0) {
			_mint(initialHolder, initialSupply);
		}
	}

	/// @notice DEVNET faucet: mints `amount` to `to`, callable by anyone.
	function mint(address to, uint256 amount) external {
		_mint(to, amount);
	}
}
