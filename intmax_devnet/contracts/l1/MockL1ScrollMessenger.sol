// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title MockL1ScrollMessenger
/// @notice Devnet stand-in for Scroll's L1ScrollMessenger: emits SentMessage for L1->L2 messages
///         (delivered on L2 by the mock L1->L2 relayer) and executes L2->L1 messages given to
///         relayMessageWithProof without checking any proof.
/// @dev DEVNET: no message queue, no batch finalisation, no proof verification, no dropMessage,
///      no fee oracle (the fee is a flat 1 wei). Anyone may call relayMessageWithProof (the original
///      mock restricts it to a RELAYER role; the real messenger is permissionless with a proof).
contract MockL1ScrollMessenger {
	/// @notice Scroll's L2MessageProof; ignored by the mock.
	struct L2MessageProof {
		uint256 batchIndex;
		bytes merkleProof;
	}

	/// @notice Flat L2 execution fee charged per sent or replayed message.
	uint256 private constant FEE = 1;

	/// @notice The L2 sender of the message being executed (zero outside relayMessageWithProof).
	address public xDomainMessageSender;
	/// @notice Next nonce of an L1->L2 message (starts at 0).
	uint256 private messageNonce;
	/// @notice Hashes (section 10.8) of L2->L1 messages that executed successfully (public in the
	///         real L1ScrollMessenger too).
	mapping(bytes32 => bool) public isL2MessageExecuted;
	/// @notice Hashes (section 10.8) of L1->L2 messages sent through this messenger.
	mapping(bytes32 => bool) private isL1MessageSent;

	/// @notice An L1->L2 message was sent (same event as the real messengers).
	event SentMessage(
		address indexed sender,
		address indexed target,
		uint256 value,
		uint256 messageNonce,
		uint256 gasLimit,
		bytes message
	);
	/// @notice An L2->L1 message executed successfully.
	event RelayedMessage(bytes32 indexed messageHash);
	/// @notice An L2->L1 message's call reverted; it may be relayed again.
	event FailedRelayedMessage(bytes32 indexed messageHash);

	/// @notice Accepts ETH so that messages with a value can be executed.
	receive() external payable {}

	/// @notice Sends a message to L2; refunds msg.value - value - FEE to `refundAddress`.
	function sendMessage(
		address target,
		uint256 value,
		bytes calldata message,
		uint256 gasLimit,
		address refundAddress
	) external payable {
		_sendMessage(target, value, message, gasLimit, refundAddress);
	}

	/// @notice Sends a message to L2; refunds msg.value - value - FEE to the caller.
	function sendMessage(
		address target,
		uint256 value,
		bytes calldata message,
		uint256 gasLimit
	) external payable {
		_sendMessage(target, value, message, gasLimit, msg.sender);
	}

	/// @notice Executes an L2->L1 message. DEVNET: the proof is ignored.
	/// @dev Reverts "Message was already successfully executed" for a message that succeeded before.
	///      A failing call emits FailedRelayedMessage and does not revert.
	function relayMessageWithProof(
		address from,
		address to,
		uint256 value,
		uint256 nonce,
		bytes calldata message,
		L2MessageProof calldata proof
	) external {
		proof;
		bytes32 messageHash = keccak256(_encodeXDomainCalldata(from, to, value, nonce, message));
		require(!isL2MessageExecuted[messageHash], "Message was already successfully executed");
		xDomainMessageSender = from;
		(bool success, ) = to.call{value: value}(message);
		xDomainMessageSender = address(0);
		if (success) {
			isL2MessageExecuted[messageHash] = true;
			emit RelayedMessage(messageHash);
		} else {
			emit FailedRelayedMessage(messageHash);
		}
	}

	/// @notice Re-sends an earlier L1->L2 message with a new gas limit: emits a new SentMessage with
	///         the original sender and a new nonce. Refunds msg.value - FEE to `refundAddress`.
	/// @dev DEVNET: the real messenger re-queues the same message; the mock L1->L2 relayer needs a
	///      fresh SentMessage instead. Only messages sent through this messenger can be replayed.
	function replayMessage(
		address from,
		address to,
		uint256 value,
		uint256 messageNonce_,
		bytes calldata message,
		uint32 newGasLimit,
		address refundAddress
	) external payable {
		bytes32 messageHash = keccak256(_encodeXDomainCalldata(from, to, value, messageNonce_, message));
		require(isL1MessageSent[messageHash], "Provided message has not been enqueued");
		require(msg.value >= FEE, "insufficient msg.value");
		_emitSentMessage(from, to, value, newGasLimit, message);
		_refund(refundAddress, msg.value - FEE);
	}

	/// @dev Charges FEE + value, emits SentMessage and refunds the rest.
	function _sendMessage(
		address target,
		uint256 value,
		bytes calldata message,
		uint256 gasLimit,
		address refundAddress
	) private {
		require(msg.value >= FEE + value, "insufficient msg.value");
		_emitSentMessage(msg.sender, target, value, gasLimit, message);
		_refund(refundAddress, msg.value - FEE - value);
	}

	/// @dev Records the message hash, emits SentMessage with the current nonce and increments it.
	function _emitSentMessage(
		address sender,
		address target,
		uint256 value,
		uint256 gasLimit,
		bytes calldata message
	) private {
		uint256 nonce = messageNonce;
		isL1MessageSent[keccak256(_encodeXDomainCalldata(sender, target, value, nonce, message))] = true;
		emit SentMessage(sender, target, value, nonce, gasLimit, message);
		messageNonce = nonce + 1;
	}

	/// @dev Sends `amount` wei to `to` (no-op for zero).
	function _refund(address to, uint256 amount) private {
		if (amount == 0) {
			return;
		}
		(bool ok, ) = to.call{value: amount}("");
		require(ok, "Failed to refund the fee");
	}

	/// @dev The relayMessage(address,address,uint256,uint256,bytes) calldata hashed in section 10.8.
	function _encodeXDomainCalldata(
		address sender,
		address target,
		uint256 value,
		uint256 nonce,
		bytes calldata message
	) private pure returns (bytes memory) {
		return
			abi.encodeWithSignature(
				"relayMessage(address,address,uint256,uint256,bytes)",
				sender,
				target,
				value,
				nonce,
				message
			);
	}
}
