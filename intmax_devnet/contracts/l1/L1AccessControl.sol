// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title L1AccessControl
/// @notice Minimal role-based access control with the same selectors, events and errors as
///         OpenZeppelin AccessControl (hasRole, grantRole, revokeRole, renounceRole, getRoleAdmin).
/// @dev DEVNET: every role is administered by DEFAULT_ADMIN_ROLE; there is no setRoleAdmin and no
///      ERC165 supportsInterface.
abstract contract L1AccessControl {
	/// @notice The admin role (0x00..00); it administers every other role.
	bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;

	mapping(bytes32 role => mapping(address account => bool)) private _roles;

	/// @notice `account` lacks `neededRole`.
	error AccessControlUnauthorizedAccount(address account, bytes32 neededRole);
	/// @notice renounceRole was called with an address other than the caller.
	error AccessControlBadConfirmation();

	/// @notice `account` was granted `role` by `sender`.
	event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
	/// @notice `account` lost `role` (revoked or renounced) through `sender`.
	event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

	/// @notice Reverts AccessControlUnauthorizedAccount unless msg.sender holds `role`.
	modifier onlyRole(bytes32 role) {
		if (!hasRole(role, msg.sender)) {
			revert AccessControlUnauthorizedAccount(msg.sender, role);
		}
		_;
	}

	/// @notice Whether `account` holds `role`.
	function hasRole(bytes32 role, address account) public view returns (bool) {
		return _roles[role][account];
	}

	/// @notice The role that administers `role` (always DEFAULT_ADMIN_ROLE on the devnet).
	function getRoleAdmin(bytes32 role) public pure returns (bytes32) {
		role;
		return DEFAULT_ADMIN_ROLE;
	}

	/// @notice Grants `role` to `account` (admin only).
	function grantRole(bytes32 role, address account) external onlyRole(getRoleAdmin(role)) {
		_grantRole(role, account);
	}

	/// @notice Revokes `role` from `account` (admin only).
	function revokeRole(bytes32 role, address account) external onlyRole(getRoleAdmin(role)) {
		_revokeRole(role, account);
	}

	/// @notice Gives up `role`; `callerConfirmation` must be msg.sender.
	function renounceRole(bytes32 role, address callerConfirmation) external {
		if (callerConfirmation != msg.sender) {
			revert AccessControlBadConfirmation();
		}
		_revokeRole(role, callerConfirmation);
	}

	/// @dev Grants without an access check; emits RoleGranted only on a change.
	function _grantRole(bytes32 role, address account) internal {
		if (!_roles[role][account]) {
			_roles[role][account] = true;
			emit RoleGranted(role, account, msg.sender);
		}
	}

	/// @dev Revokes without an access check; emits RoleRevoked only on a change.
	function _revokeRole(bytes32 role, address account) internal {
		if (_roles[role][account]) {
			_roles[role][account] = false;
			emit RoleRevoked(role, account, msg.sender);
		}
	}
}
