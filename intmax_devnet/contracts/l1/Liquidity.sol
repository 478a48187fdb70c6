// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {L1AccessControl} from "./L1AccessControl.sol";

/// @notice The part of Scroll's IL1ScrollMessenger that Liquidity uses.
interface ILiquidityL1Messenger {
	/// @notice Sends `message` to `target` on L2; the fee is taken from msg.value, the rest refunded.
	function sendMessage(
		address target,
		uint256 value,
		bytes calldata message,
		uint256 gasLimit,
		address refundAddress
	) external payable;

	/// @notice The L2 sender of the message being executed.
	function xDomainMessageSender() external view returns (address);
}

/// @notice The ERC20 functions Liquidity calls.
interface ILiquidityERC20 {
	/// @notice Moves `amount` from the caller to `to`.
	function transfer(address to, uint256 amount) external returns (bool);

	/// @notice Moves `amount` from `from` to `to` using the caller's allowance.
	function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @title Liquidity (devnet)
/// @notice Holds deposited assets on L1, keeps the 1-indexed deposit queue, relays deposit hashes to
///         the L2 Rollup through the L1 Scroll messenger, and pays out withdrawals sent back from L2.
///         Event signatures, function selectors and errors match the real Liquidity (docs/protocol.md §7, §8.1).
/// @dev DEVNET omissions (all intentional):
///      - not upgradeable (the real one is a UUPS proxy); initialize() is called once after deployment;
///      - no AML/eligibility permitter; isEligible is always true and the permission bytes are ignored;
///      - no time-based deposit limits;
///      - no Contribution recording (the `_contribution` initialize parameter is ignored);
///      - no ERC721/ERC1155 deposits (their withdrawals would count as failed, as in the real contract);
///      - no setPermitter/amlPermitter/eligibilityPermitter/PermitterSet, isDepositValid,
///        getDepositDataBatch, deploymentTime, onERC1155Received, supportsInterface or UUPS functions;
///      - getRoleAdmin is always DEFAULT_ADMIN_ROLE (no RoleAdminChanged).
contract Liquidity is L1AccessControl {
	/// @notice Token standards known to the token registry (ITokenData.TokenType).
	enum TokenType {
		NATIVE,
		ERC20,
		ERC721,
		ERC1155
	}

	/// @notice One registered token (ITokenData.TokenInfo).
	struct TokenInfo {
		TokenType tokenType;
		address tokenAddress;
		uint256 tokenId;
	}

	/// @notice One queued deposit (DepositQueueLib.DepositData). A cancelled entry is all zero.
	struct DepositData {
		bytes32 depositHash;
		address sender;
	}

	/// @notice The preimage of a deposit hash (DepositLib.Deposit).
	struct Deposit {
		address depositor;
		bytes32 recipientSaltHash;
		uint256 amount;
		uint32 tokenIndex;
		bool isEligible;
	}

	/// @notice A withdrawal paid on L1 (WithdrawalLib.Withdrawal); amount is pre-fee.
	struct Withdrawal {
		address recipient;
		uint32 tokenIndex;
		uint256 amount;
		bytes32 nullifier;
	}

	/// @notice Role allowed to call relayDeposits (the deposit-analyzer wallet).
	bytes32 public constant RELAYER = keccak256("RELAYER");
	/// @notice Role of the L2 contracts (Withdrawal, Claim) whose messages may call processWithdrawals.
	bytes32 public constant WITHDRAWAL = keccak256("WITHDRAWAL");
	/// @notice Maximum withdrawal fee ratio, in 1/10000 (15 %).
	uint256 public constant WITHDRAWAL_FEE_RATIO_LIMIT = 1500;
	/// @notice Maximum number of deposit hashes one relayDeposits call may carry.
	uint256 public constant RELAY_LIMIT = 450;
	/// @dev Rollup.processDeposits(uint256,bytes32[]).
	bytes4 private constant PROCESS_DEPOSITS_SELECTOR = 0xf03efa37;
	uint32 private constant NATIVE_TOKEN_INDEX = 0;

	ILiquidityL1Messenger private l1ScrollMessenger;
	address private rollup;
	bool private initialized;
	/// @notice Whether deposits (and claims) are paused.
	bool public paused;

	/// @notice Timestamp at which each withdrawal hash became claimable (0 = not claimable).
	mapping(bytes32 => uint256) public claimableWithdrawals;
	/// @notice Whether a deposit hash was ever queued (duplicates are rejected).
	mapping(bytes32 => bool) public doesDepositHashExist;
	/// @notice Withdrawal fee ratio per token index, in 1/10000.
	mapping(uint32 => uint256) public withdrawalFeeRatio;
	/// @notice Fees collected per token index and not yet withdrawn.
	mapping(uint32 => uint256) public collectedWithdrawalFees;

	DepositData[] private depositQueue;
	uint256 private depositQueueFront;

	TokenInfo[] private tokenInfoList;
	mapping(address => uint32) private fungibleTokenIndexMap;

	/// @notice initialize() was already called.
	error InvalidInitialization();
	/// @notice A required address is zero (also: relayDeposits before the rollup is set).
	error AddressZero();
	/// @notice A non-native token with the zero address.
	error TokenAddressIsZero();
	/// @notice A deposit of zero.
	error TriedToDepositZero();
	/// @notice The same deposit hash was queued before.
	error DepositHashAlreadyExists(bytes32 depositHash);
	/// @notice relayDeposits outside front..lastDepositId (e.g. already relayed).
	error OutOfRange(uint256 upToDepositId, uint256 firstDepositId, uint256 lastDepositId);
	/// @notice More than RELAY_LIMIT hashes in one relay.
	error RelayLimitExceeded();
	/// @notice cancelDeposit by someone other than the depositor.
	error OnlySenderCanCancelDeposit();
	/// @notice cancelDeposit with a struct that does not hash to the queued hash.
	error InvalidDepositHash(bytes32 depositDataHash, bytes32 calculatedHash);
	/// @notice cancelDeposit of a relayed deposit.
	error AlreadyRelayed();
	/// @notice processWithdrawals not called by the L1 messenger.
	error SenderIsNotScrollMessenger();
	/// @notice processWithdrawals for a message whose L2 sender lacks WITHDRAWAL.
	error InvalidWithdrawalAddress();
	/// @notice claimWithdrawals of a hash that is not claimable.
	error WithdrawalNotFound(bytes32 withdrawalHash);
	/// @notice A fee ratio above WITHDRAWAL_FEE_RATIO_LIMIT.
	error WithdrawalFeeRatioExceedsLimit();
	/// @notice An ETH payment (claim, cancel, fee withdrawal) failed.
	error NativeTokenTransferFailed(address recipient, uint256 amount);
	/// @notice An ERC20 transfer/transferFrom failed or returned false.
	error SafeERC20FailedOperation(address token);
	/// @notice The operation is paused.
	error EnforcedPause();
	/// @notice unpauseDeposits while not paused.
	error ExpectedPause();

	/// @notice A deposit was queued as `depositId`.
	event Deposited(
		uint256 indexed depositId,
		address indexed sender,
		bytes32 indexed recipientSaltHash,
		uint32 tokenIndex,
		uint256 amount,
		bool isEligible,
		uint256 depositedAt
	);
	/// @notice Deposits up to `upToDepositId` were sent to L2 as `message` (processDeposits calldata).
	event DepositsRelayed(uint256 indexed upToDepositId, uint256 gasLimit, bytes message);
	/// @notice An unrelayed deposit was cancelled and refunded.
	event DepositCanceled(uint256 indexed depositId);
	/// @notice A withdrawal can now be claimed with claimWithdrawals.
	event WithdrawalClaimable(bytes32 indexed withdrawalHash);
	/// @notice A direct withdrawal was paid ("Successed" is the real contract's spelling).
	event DirectWithdrawalSuccessed(bytes32 indexed withdrawalHash, address indexed recipient);
	/// @notice A direct withdrawal could not be paid; it became claimable.
	event DirectWithdrawalFailed(bytes32 indexed withdrawalHash, Withdrawal withdrawal);
	/// @notice A claimable withdrawal was paid.
	event ClaimedWithdrawal(address indexed recipient, bytes32 indexed withdrawalHash);
	/// @notice A withdrawal fee was kept.
	event WithdrawalFeeCollected(uint32 indexed token, uint256 amount);
	/// @notice Collected fees were paid out by the admin.
	event WithdrawalFeeWithdrawn(address indexed recipient, uint32 indexed token, uint256 amount);
	/// @notice The fee ratio of a token changed.
	event WithdrawalFeeRatioSet(uint32 indexed tokenIndex, uint256 feeRatio);
	/// @notice The L2 Rollup address changed.
	event RollupUpdated(address indexed rollup);
	/// @notice Deposits were paused by `account`.
	event Paused(address account);
	/// @notice Deposits were unpaused by `account`.
	event Unpaused(address account);

	/// @notice Reverts EnforcedPause while paused.
	modifier whenNotPaused() {
		if (paused) {
			revert EnforcedPause();
		}
		_;
	}

	/// @notice Reverts unless called by the L1 messenger for a message from a WITHDRAWAL-role L2 sender.
	modifier onlyWithdrawalRole() {
		ILiquidityL1Messenger messenger = l1ScrollMessenger;
		if (msg.sender != address(messenger)) {
			revert SenderIsNotScrollMessenger();
		}
		if (!hasRole(WITHDRAWAL, messenger.xDomainMessageSender())) {
			revert InvalidWithdrawalAddress();
		}
		_;
	}

	/// @notice Sets everything up once; same parameters as the real initialize.
	/// @dev The devnet uses `_admin` (DEFAULT_ADMIN_ROLE), `_l1ScrollMessenger`, `_relayer` (RELAYER) and
	///      `initialERC20Tokens` (indices 1..n). `_rollup`, `_withdrawal` and `_claim` may be zero because
	///      L2 is deployed later: set them with updateRollupContract and grantRole(WITHDRAWAL, ...).
	///      DEVNET: `_contribution` is ignored (no contribution recording).
	function initialize(
		address _admin,
		address _l1ScrollMessenger,
		address _rollup,
		address _withdrawal,
		address _claim,
		address _relayer,
		address _contribution,
		address[] calldata initialERC20Tokens
	) external {
		_contribution;
		if (initialized) {
			revert InvalidInitialization();
		}
		if (_admin == address(0) || _l1ScrollMessenger == address(0) || _relayer == address(0)) {
			revert AddressZero();
		}
		initialized = true;
		_grantRole(DEFAULT_ADMIN_ROLE, _admin);
		_grantRole(RELAYER, _relayer);
		if (_withdrawal != address(0)) {
			_grantRole(WITHDRAWAL, _withdrawal);
		}
		if (_claim != address(0)) {
			_grantRole(WITHDRAWAL, _claim);
		}
		l1ScrollMessenger = ILiquidityL1Messenger(_l1ScrollMessenger);
		if (_rollup != address(0)) {
			rollup = _rollup;
			emit RollupUpdated(_rollup);
		}
		tokenInfoList.push(TokenInfo(TokenType.NATIVE, address(0), 0));
		for (uint256 i = 0; i < initialERC20Tokens.length; i++) {
			_createTokenIndex(initialERC20Tokens[i]);
		}
		depositQueue.push(DepositData(bytes32(0), address(0)));
		depositQueueFront = 1;
	}

	/// @notice Points relayDeposits at a new L2 Rollup (admin).
	function updateRollupContract(address _rollup) external onlyRole(DEFAULT_ADMIN_ROLE) {
		if (_rollup == address(0)) {
			revert AddressZero();
		}
		rollup = _rollup;
		emit RollupUpdated(_rollup);
	}

	/// @notice Pauses deposits and claims (admin).
	function pauseDeposits() external onlyRole(DEFAULT_ADMIN_ROLE) {
		if (paused) {
			revert EnforcedPause();
		}
		paused = true;
		emit Paused(msg.sender);
	}

	/// @notice Unpauses deposits and claims (admin).
	function unpauseDeposits() external onlyRole(DEFAULT_ADMIN_ROLE) {
		if (!paused) {
			revert ExpectedPause();
		}
		paused = false;
		emit Unpaused(msg.sender);
	}

	/// @notice Sets the withdrawal fee ratio of `tokenIndex` in 1/10000, at most 1500 (admin).
	function setWithdrawalFeeRatio(uint32 tokenIndex, uint256 feeRatio) external onlyRole(DEFAULT_ADMIN_ROLE) {
		if (feeRatio > WITHDRAWAL_FEE_RATIO_LIMIT) {
			revert WithdrawalFeeRatioExceedsLimit();
		}
		withdrawalFeeRatio[tokenIndex] = feeRatio;
		emit WithdrawalFeeRatioSet(tokenIndex, feeRatio);
	}

	/// @notice Pays all collected fees of `tokenIndices` to `recipient` (admin).
	function withdrawCollectedFees(
		address recipient,
		uint32[] calldata tokenIndices
	) external onlyRole(DEFAULT_ADMIN_ROLE) {
		if (recipient == address(0)) {
			revert AddressZero();
		}
		for (uint256 i = 0; i < tokenIndices.length; i++) {
			uint32 tokenIndex = tokenIndices[i];
			uint256 fee = collectedWithdrawalFees[tokenIndex];
			if (fee == 0) {
				continue;
			}
			collectedWithdrawalFees[tokenIndex] = 0;
			_sendToken(tokenIndex, recipient, fee);
			emit WithdrawalFeeWithdrawn(recipient, tokenIndex, fee);
		}
	}

	/// @notice Deposits msg.value ETH (token index 0) for `recipientSaltHash`.
	/// @dev DEVNET: the permission bytes are ignored.
	function depositNativeToken(
		bytes32 recipientSaltHash,
		bytes calldata amlPermission,
		bytes calldata eligibilityPermission
	) external payable whenNotPaused {
		amlPermission;
		eligibilityPermission;
		if (msg.value == 0) {
			revert TriedToDepositZero();
		}
		_deposit(msg.sender, recipientSaltHash, NATIVE_TOKEN_INDEX, msg.value);
	}

	/// @notice Deposits `amount` of an ERC20 (needs an approval); an unknown token gets the next index.
	/// @dev DEVNET: the permission bytes are ignored.
	function depositERC20(
		address tokenAddress,
		bytes32 recipientSaltHash,
		uint256 amount,
		bytes calldata amlPermission,
		bytes calldata eligibilityPermission
	) external whenNotPaused {
		amlPermission;
		eligibilityPermission;
		if (amount == 0) {
			revert TriedToDepositZero();
		}
		_safeCall(tokenAddress, abi.encodeCall(ILiquidityERC20.transferFrom, (msg.sender, address(this), amount)));
		(bool found, uint32 tokenIndex) = getTokenIndex(TokenType.ERC20, tokenAddress, 0);
		if (!found) {
			tokenIndex = _createTokenIndex(tokenAddress);
		}
		_deposit(msg.sender, recipientSaltHash, tokenIndex, amount);
	}

	/// @notice Sends the hashes of deposits front..upToDepositId (skipping cancelled ones) to the
	///         L2 Rollup as processDeposits(upToDepositId, hashes); msg.value pays the L2 fee (RELAYER).
	function relayDeposits(uint256 upToDepositId, uint256 gasLimit) external payable onlyRole(RELAYER) {
		uint256 front = depositQueueFront;
		uint256 last = depositQueue.length - 1;
		if (upToDepositId < front || upToDepositId > last) {
			revert OutOfRange(upToDepositId, front, last);
		}
		uint256 count = 0;
		for (uint256 id = front; id <= upToDepositId; id++) {
			if (depositQueue[id].sender != address(0)) {
				count++;
			}
		}
		if (count > RELAY_LIMIT) {
			revert RelayLimitExceeded();
		}
		bytes32[] memory depositHashes = new bytes32[](count);
		uint256 j = 0;
		for (uint256 id = front; id <= upToDepositId; id++) {
			if (depositQueue[id].sender != address(0)) {
				depositHashes[j++] = depositQueue[id].depositHash;
			}
		}
		depositQueueFront = upToDepositId + 1;
		address rollupCached = rollup;
		if (rollupCached == address(0)) {
			// DEVNET: the rollup is set after L2 is deployed; relaying before that is a setup error.
			revert AddressZero();
		}
		bytes memory message = abi.encodeWithSelector(PROCESS_DEPOSITS_SELECTOR, upToDepositId, depositHashes);
		l1ScrollMessenger.sendMessage{value: msg.value}(rollupCached, 0, message, gasLimit, msg.sender);
		emit DepositsRelayed(upToDepositId, gasLimit, message);
	}

	/// @notice Cancels an unrelayed deposit of the caller and refunds it; `deposit` must hash to the
	///         queued deposit hash.
	function cancelDeposit(uint256 depositId, Deposit calldata deposit) external {
		if (depositId == 0 || depositId >= depositQueue.length) {
			revert OnlySenderCanCancelDeposit();
		}
		DepositData memory data = depositQueue[depositId];
		if (data.sender != msg.sender) {
			revert OnlySenderCanCancelDeposit();
		}
		bytes32 depositHash = _depositHash(
			deposit.depositor,
			deposit.recipientSaltHash,
			deposit.amount,
			deposit.tokenIndex,
			deposit.isEligible
		);
		if (data.depositHash != depositHash) {
			revert InvalidDepositHash(data.depositHash, depositHash);
		}
		if (depositId <= getLastRelayedDepositId()) {
			revert AlreadyRelayed();
		}
		delete depositQueue[depositId];
		_sendToken(deposit.tokenIndex, data.sender, deposit.amount);
		emit DepositCanceled(depositId);
	}

	/// @notice Called by the L1 messenger for an L2 Withdrawal/Claim message: pays direct withdrawals
	///         (minus fee; a failed payment becomes claimable) and marks claimable hashes.
	/// @dev DEVNET: no contribution recording for tx.origin.
	function processWithdrawals(
		Withdrawal[] calldata withdrawals,
		bytes32[] calldata withdrawalHashes
	) external onlyWithdrawalRole {
		for (uint256 i = 0; i < withdrawals.length; i++) {
			_processDirectWithdrawal(withdrawals[i]);
		}
		for (uint256 i = 0; i < withdrawalHashes.length; i++) {
			claimableWithdrawals[withdrawalHashes[i]] = block.timestamp;
			emit WithdrawalClaimable(withdrawalHashes[i]);
		}
	}

	/// @notice Pays claimable withdrawals (minus fee) to their recipients; anyone may call it.
	function claimWithdrawals(Withdrawal[] calldata withdrawals) external whenNotPaused {
		for (uint256 i = 0; i < withdrawals.length; i++) {
			Withdrawal calldata w = withdrawals[i];
			bytes32 withdrawalHash = _withdrawalHash(w);
			if (claimableWithdrawals[withdrawalHash] == 0) {
				revert WithdrawalNotFound(withdrawalHash);
			}
			delete claimableWithdrawals[withdrawalHash];
			uint256 fee = _fee(w.tokenIndex, w.amount);
			_sendToken(w.tokenIndex, w.recipient, w.amount - fee);
			emit ClaimedWithdrawal(w.recipient, withdrawalHash);
			if (fee > 0) {
				collectedWithdrawalFees[w.tokenIndex] += fee;
				emit WithdrawalFeeCollected(w.tokenIndex, fee);
			}
		}
	}

	/// @notice Deposit id of the last queued deposit (queue length - 1).
	function getLastDepositId() public view returns (uint256) {
		return depositQueue.length - 1;
	}

	/// @notice Deposit id of the last relayed deposit (front - 1).
	function getLastRelayedDepositId() public view returns (uint256) {
		return depositQueueFront - 1;
	}

	/// @notice The queued (hash, sender) of `depositId`; all zero when cancelled.
	function getDepositData(uint256 depositId) external view returns (DepositData memory) {
		return depositQueue[depositId];
	}

	/// @notice The queued deposit hash of `depositId`; zero when cancelled.
	function getDepositDataHash(uint256 depositId) external view returns (bytes32) {
		return depositQueue[depositId].depositHash;
	}

	/// @notice Token index of native ETH (always 0).
	function getNativeTokenIndex() public pure returns (uint32) {
		return NATIVE_TOKEN_INDEX;
	}

	/// @notice (found, index) of a token. NATIVE is always (true, 0).
	/// @dev DEVNET: ERC721/ERC1155 are never registered, so they return (false, 0).
	function getTokenIndex(
		TokenType tokenType,
		address tokenAddress,
		uint256 tokenId
	) public view returns (bool, uint32) {
		tokenId;
		if (tokenType == TokenType.NATIVE) {
			return (true, NATIVE_TOKEN_INDEX);
		}
		if (tokenAddress == address(0)) {
			revert TokenAddressIsZero();
		}
		if (tokenType == TokenType.ERC20) {
			uint32 tokenIndex = fungibleTokenIndexMap[tokenAddress];
			if (tokenIndex != 0) {
				return (true, tokenIndex);
			}
		}
		return (false, 0);
	}

	/// @notice The registered token at `tokenIndex` (reverts past the last index).
	function getTokenInfo(uint32 tokenIndex) public view returns (TokenInfo memory) {
		return tokenInfoList[tokenIndex];
	}

	/// @dev Registers `tokenAddress` as an ERC20 under the next index.
	function _createTokenIndex(address tokenAddress) private returns (uint32 tokenIndex) {
		if (tokenAddress == address(0)) {
			revert TokenAddressIsZero();
		}
		tokenIndex = uint32(tokenInfoList.length);
		tokenInfoList.push(TokenInfo(TokenType.ERC20, tokenAddress, 0));
		fungibleTokenIndexMap[tokenAddress] = tokenIndex;
	}

	/// @dev Hashes, checks for duplicates, enqueues and emits Deposited. isEligible is always true.
	function _deposit(address sender, bytes32 recipientSaltHash, uint32 tokenIndex, uint256 amount) private {
		bool isEligible = true; // DEVNET: no eligibility permitter; isEligible is always true
		bytes32 depositHash = _depositHash(sender, recipientSaltHash, amount, tokenIndex, isEligible);
		if (doesDepositHashExist[depositHash]) {
			revert DepositHashAlreadyExists(depositHash);
		}
		doesDepositHashExist[depositHash] = true;
		depositQueue.push(DepositData(depositHash, sender));
		uint256 depositId = depositQueue.length - 1;
		emit Deposited(depositId, sender, recipientSaltHash, tokenIndex, amount, isEligible, block.timestamp);
	}

	/// @dev Pays one direct withdrawal; on failure makes it claimable.
	function _processDirectWithdrawal(Withdrawal calldata w) private {
		TokenInfo memory info = getTokenInfo(w.tokenIndex);
		uint256 fee = _fee(w.tokenIndex, w.amount);
		uint256 payout = w.amount - fee;
		bool success;
		if (info.tokenType == TokenType.NATIVE) {
			// What the real contract's `payable(recipient).send(amount)` compiles to (2300 gas stipend,
			// no returndata copy); written out because `send` is deprecated in 0.8.3x.
			address recipient = w.recipient;
			assembly {
				success := call(mul(iszero(payout), 2300), recipient, payout, 0, 0, 0, 0)
			}
		} else if (info.tokenType == TokenType.ERC20) {
			success = _callOptionalReturnBool(
				info.tokenAddress,
				abi.encodeCall(ILiquidityERC20.transfer, (w.recipient, payout))
			);
		}
		// ERC721 and ERC1155 are never paid directly: success stays false.
		bytes32 withdrawalHash = _withdrawalHash(w);
		if (success) {
			emit DirectWithdrawalSuccessed(withdrawalHash, w.recipient);
			if (fee > 0) {
				collectedWithdrawalFees[w.tokenIndex] += fee;
				emit WithdrawalFeeCollected(w.tokenIndex, fee);
			}
		} else {
			claimableWithdrawals[withdrawalHash] = block.timestamp;
			emit DirectWithdrawalFailed(withdrawalHash, w);
			emit WithdrawalClaimable(withdrawalHash);
		}
	}

	/// @dev Sends `amount` of token `tokenIndex` to `recipient`; reverts on failure.
	function _sendToken(uint32 tokenIndex, address recipient, uint256 amount) private {
		TokenInfo memory info = getTokenInfo(tokenIndex);
		if (info.tokenType == TokenType.NATIVE) {
			(bool ok, ) = recipient.call{value: amount}("");
			if (!ok) {
				revert NativeTokenTransferFailed(recipient, amount);
			}
		} else {
			_safeCall(info.tokenAddress, abi.encodeCall(ILiquidityERC20.transfer, (recipient, amount)));
		}
	}

	/// @dev SafeERC20-style call: reverts SafeERC20FailedOperation unless it succeeds and returns
	///      nothing (from a contract) or true.
	function _safeCall(address token, bytes memory data) private {
		if (!_callOptionalReturnBool(token, data)) {
			revert SafeERC20FailedOperation(token);
		}
	}

	/// @dev True when the call succeeds and returns either nothing (from a contract) or true.
	function _callOptionalReturnBool(address token, bytes memory data) private returns (bool) {
		(bool ok, bytes memory ret) = token.call(data);
		if (!ok) {
			return false;
		}
		if (ret.length == 0) {
			return token.code.length > 0;
		}
		return ret.length >= 32 && abi.decode(ret, (uint256)) == 1;
	}

	/// @dev amount * withdrawalFeeRatio[tokenIndex] / 10000, rounded down.
	function _fee(uint32 tokenIndex, uint256 amount) private view returns (uint256) {
		return (amount * withdrawalFeeRatio[tokenIndex]) / 10000;
	}

	/// @dev docs/protocol.md §10.4: keccak(depositor ‖ recipientSaltHash ‖ amount ‖ tokenIndex ‖ uint32(isEligible)).
	function _depositHash(
		address depositor,
		bytes32 recipientSaltHash,
		uint256 amount,
		uint32 tokenIndex,
		bool isEligible
	) private pure returns (bytes32) {
		return keccak256(abi.encodePacked(depositor, recipientSaltHash, amount, tokenIndex, uint32(isEligible ? 1 : 0)));
	}

	/// @dev docs/protocol.md §10.1: keccak(recipient ‖ tokenIndex ‖ amount ‖ nullifier), pre-fee amount.
	function _withdrawalHash(Withdrawal calldata w) private pure returns (bytes32) {
		return keccak256(abi.encodePacked(w.recipient, w.tokenIndex, w.amount, w.nullifier));
	}
}
