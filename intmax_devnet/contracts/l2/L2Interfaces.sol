// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {L2Withdrawal} from "./IntmaxL2Lib.sol";

// The slices of the Scroll L2 messenger, the PLONK verifier and Rollup that the L2 contracts call.

interface IL2ScrollMessenger {
    function sendMessage(
        address target,
        uint256 value,
        bytes calldata message,
        uint256 gasLimit,
        address refundAddress
    ) external payable;

    function xDomainMessageSender() external view returns (address);
}

// Real: the gnark-generated PLONK verifier. Devnet: DevVerifier.
interface IPlonkVerifier {
    function Verify(bytes calldata proof, uint256[] calldata publicInputs) external view returns (bool);
}

interface IRollupBlockHashes {
    function getBlockHash(uint32 blockNumber) external view returns (bytes32);
}

// Liquidity.processWithdrawals on L1: only its selector (0x9d6a54cb) is used, to build the message.
interface ILiquidityWithdrawals {
    function processWithdrawals(
        L2Withdrawal[] calldata withdrawals,
        bytes32[] calldata withdrawalHashes
    ) external;
}
