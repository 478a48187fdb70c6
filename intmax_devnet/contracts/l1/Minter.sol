// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {L1AccessControl} from "./L1AccessControl.sol";
import {L1ERC20} from "./L1ERC20.sol";

/// @title IntmaxToken
/// @notice An ITX-like ERC20 (18 decimals) that only its minter can mint.
/// @dev DEVNET: the real ITX token releases tokens on an emission schedule; here every mint(to)
///      call creates a fixed MINT_AMOUNT.
contract IntmaxToken is L1ERC20 {
	/// @notice Amount created by one mint(to) call (1,000,000 ITX).
	uint256 public constant MINT_AMOUNT = 1_000_000 ether;
	/// @notice The only address allowed to mint (the Minter that deployed this token).
	address public immutable minter;

	/// @notice The caller is not the minter.
	error OnlyMinter();

	/// @notice Creates the token; `minter_` is the only account allowed to mint.
	constructor(address minter_) L1ERC20("INTMAX", "ITX", 18) {
		minter = minter_;
	}

	/// @notice Mints MINT_AMOUNT to `to` (minter only).
	function mint(address to) external {
		if (msg.sender != minter) {
			revert OnlyMinter();
		}
		_mint(to, MINT_AMOUNT);
	}
}

/// @title Minter
/// @notice Mints ITX into itself and forwards it to Liquidity (or, for the admin, anywhere).
/// @dev Creates its IntmaxToken in the constructor so that the token's minter is fixed.
///      DEVNET: not upgradeable (the real Minter is a UUPS proxy).
contract Minter is L1AccessControl {
	/// @notice Role allowed to call mint() and transferToLiquidity().
	bytes32 public constant TOKEN_MANAGER_ROLE = keccak256("TOKEN_MANAGER_ROLE");

	/// @notice The ITX token this contract mints.
	IntmaxToken public immutable intmaxToken;
	/// @notice The Liquidity contract that receives transferToLiquidity().
	address public immutable liquidity;

	/// @notice An address parameter is the zero address.
	error AddressZero();
	/// @notice The minter's balance decreased during mint().
	error MintFailed();
	/// @notice mint() created no tokens.
	error NoTokensMinted();
	/// @notice A transfer amount is zero.
	error ZeroAmount();
	/// @notice A transfer recipient is the zero address.
	error ZeroRecipient();
	/// @notice The token transfer returned false.
	error TransferFailed();
	/// @notice The minter holds less than the requested amount.
	error InsufficientBalance();

	/// @notice ITX tokens were minted to this contract.
	event Minted(uint256 amount);
	/// @notice Tokens were transferred to the Liquidity contract.
	event TransferredToLiquidity(uint256 amount);
	/// @notice Tokens were transferred to `to`.
	event TransferredTo(address to, uint256 amount);

	/// @notice Deploys the ITX token; `admin` gets DEFAULT_ADMIN_ROLE, `tokenManager` TOKEN_MANAGER_ROLE.
	constructor(address liquidity_, address admin, address tokenManager) {
		if (liquidity_ == address(0) || admin == address(0) || tokenManager == address(0)) {
			revert AddressZero();
		}
		liquidity = liquidity_;
		intmaxToken = new IntmaxToken(address(this));
		_grantRole(DEFAULT_ADMIN_ROLE, admin);
		_grantRole(TOKEN_MANAGER_ROLE, tokenManager);
	}

	/// @notice Mints new ITX to this contract and emits Minted with the amount received.
	function mint() external onlyRole(TOKEN_MANAGER_ROLE) {
		uint256 before = intmaxToken.balanceOf(address(this));
		intmaxToken.mint(address(this));
		uint256 afterMint = intmaxToken.balanceOf(address(this));
		if (afterMint < before) {
			revert MintFailed();
		}
		if (afterMint == before) {
			revert NoTokensMinted();
		}
		emit Minted(afterMint - before);
	}

	/// @notice Sends `amount` ITX to the Liquidity contract.
	function transferToLiquidity(uint256 amount) external onlyRole(TOKEN_MANAGER_ROLE) {
		_transferOut(liquidity, amount);
		emit TransferredToLiquidity(amount);
	}

	/// @notice Sends `amount` ITX to `to` (admin only, as in the real Minter).
	function transferTo(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
		if (to == address(0)) {
			revert ZeroRecipient();
		}
		_transferOut(to, amount);
		emit TransferredTo(to, amount);
	}

	/// @dev Checks the amount and balance, then transfers.
	function _transferOut(address to, uint256 amount) private {
		if (amount == 0) {
			revert ZeroAmount();
		}
		if (intmaxToken.balanceOf(address(this)) < amount) {
			revert InsufficientBalance();
		}
		if (!intmaxToken.transfer(to, amount)) {
			revert TransferFailed();
		}
	}
}
