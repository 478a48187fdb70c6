// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title MockL2ScrollMessenger
/// @notice Dev-network stand-in for Scroll's L2ScrollMessenger (docs/protocol.md §9). `sendMessage` only
/// emits SentMessage (a relayer delivers it to L1); `relayMessage` can be called by anyone and executes
/// an L1 -> L2 message with the given cross-domain sender.
/// DEVNET: no L1 message queue, no proof that the message was sent on L1, anyone may relay.
contract MockL2ScrollMessenger {
    address public _xDomainMessageSender;
    mapping(bytes32 => bool) public isL1MessageExecuted;
    uint256 private nonce;

    event SentMessage(
        address indexed sender,
        address indexed target,
        uint256 value,
        uint256 messageNonce,
        uint256 gasLimit,
        bytes message
    );
    event RelayedMessage(bytes32 indexed messageHash);
    event FailedRelayedMessage(bytes32 indexed messageHash);

    function sendMessage(address _to, uint256 _value, bytes calldata _message, uint256 _gasLimit, address)
        external
        payable
    {
        _sendMessage(_to, _value, _message, _gasLimit);
    }

    function sendMessage(address _to, uint256 _value, bytes calldata _message, uint256 _gasLimit)
        external
        payable
    {
        _sendMessage(_to, _value, _message, _gasLimit);
    }

    function relayMessage(address _from, address _to, uint256 _value, uint256 _nonce, bytes calldata _message)
        external
    {
        // 10.8: the hash of the relayMessage calldata.
        bytes32 messageHash = keccak256(
            abi.encodeWithSignature(
                "relayMessage(address,address,uint256,uint256,bytes)", _from, _to, _value, _nonce, _message
            )
        );
        require(!isL1MessageExecuted[messageHash], "Message was already successfully executed");
        _xDomainMessageSender = _from;
        (bool success, ) = _to.call{value: _value}(_message);
        _xDomainMessageSender = address(0);
        require(success, "Failed to execute message");
        isL1MessageExecuted[messageHash] = true;
        emit RelayedMessage(messageHash);
    }

    function xDomainMessageSender() external view returns (address) {
        return _xDomainMessageSender;
    }

    function _sendMessage(address _to, uint256 _value, bytes calldata _message, uint256 _gasLimit) private {
        require(msg.value == _value, "msg.value mismatch");
        emit SentMessage(msg.sender, _to, _value, nonce, _gasLimit, _message);
        nonce++;
    }
}
