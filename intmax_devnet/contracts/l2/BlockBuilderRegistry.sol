// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title BlockBuilderRegistry (devnet)
/// @notice Block builders announce their URL with a heartbeat (docs/protocol.md §8.4).
/// The real contract is a UUPS proxy; this one is deployed directly. DEVNET: no upgrades.
contract BlockBuilderRegistry {
    address public owner;
    bool private initialized;

    event BlockBuilderHeartbeat(address indexed blockBuilder, string url);
    event Initialized(uint64 version);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error URLIsEmpty();
    error InvalidInitialization();
    error OwnableUnauthorizedAccount(address account);
    error OwnableInvalidOwner(address owner);

    function initialize(address admin) external {
        if (initialized) revert InvalidInitialization();
        if (admin == address(0)) revert OwnableInvalidOwner(address(0));
        initialized = true;
        owner = admin;
        emit OwnershipTransferred(address(0), admin);
        emit Initialized(1);
    }

    function emitHeartbeat(string calldata url) external {
        if (bytes(url).length == 0) revert URLIsEmpty();
        emit BlockBuilderHeartbeat(msg.sender, url);
    }

    function transferOwnership(address newOwner) external {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        if (newOwner == address(0)) revert OwnableInvalidOwner(address(0));
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
