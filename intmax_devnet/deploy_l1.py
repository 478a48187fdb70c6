"""Deploy the L1 side of the devnet (Liquidity, the mock L1 Scroll messenger, Minter + ITX, test tokens).

Two steps, because L1 and L2 each need the other's addresses:

1. `deploy_l1(w3, deployer, relayer=..., token_manager=...)` deploys every L1 contract and initializes
   Liquidity without the L2 addresses. Deposits work from then on; relaying needs step 2.
2. `initialize_l1(w3, deployment, admin=deployer, rollup=..., withdrawal=..., claim=...)` (after L2 is
   deployed) points Liquidity at the L2 Rollup and grants WITHDRAWAL to the L2 Withdrawal (and Claim).

Token indices on Liquidity follow the real deployment: 0 = ETH, 1 = ITX, 2 = WBTC, 3 = USDC.
Two more tokens with non-standard metadata are deployed last by `deploy_odd_metadata_tokens` (so
every address above is unchanged) and get no token index until someone deposits them (Liquidity
registers an ERC20 on its first deposit): `bytes32_symbol_token` (symbol() returns bytes32, like
MKR) and `reverting_symbol_token` (symbol() reverts). The token-map register must handle both.
"""

from __future__ import annotations

from web3 import Web3

from intmax_devnet.deployer import DeployedContract, contract_at, deploy_contract, transact

# Keys of the dict returned by deploy_l1.
L1_MESSENGER = "l1_scroll_messenger"
LIQUIDITY = "liquidity"
MINTER = "minter"
ITX = "itx"
WBTC = "wbtc"
USDC = "usdc"
MULTICALL3 = "multicall3"
BYTES32_SYMBOL_TOKEN = "bytes32_symbol_token"
REVERTING_SYMBOL_TOKEN = "reverting_symbol_token"

# (key, name, symbol, decimals) of the test ERC20s, in their Liquidity token-index order after ITX.
TEST_TOKENS: tuple[tuple[str, str, str, int], ...] = (
    (WBTC, "Wrapped BTC (devnet)", "WBTC", 8),
    (USDC, "USD Coin (devnet)", "USDC", 6),
)
# Whole tokens minted to the deployer when each test token is created.
TEST_TOKEN_INITIAL_SUPPLY = 1_000_000_000
# Metadata of the odd tokens: the bytes32 one as MKR stores it (text right-padded with NULs).
BYTES32_SYMBOL_TOKEN_NAME = "Maker-like (devnet)"
BYTES32_SYMBOL_TOKEN_SYMBOL = "DMKR"
ODD_TOKEN_DECIMALS = 18
WITHDRAWAL_ROLE = Web3.keccak(text="WITHDRAWAL")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

L1Deployment = dict[str, DeployedContract]


def deploy_l1(w3: Web3, deployer: str, *, relayer: str, token_manager: str) -> L1Deployment:
    """Deploy and initialize every L1 contract from `deployer` (which becomes the admin everywhere).

    `relayer` gets Liquidity's RELAYER role (relayDeposits); `token_manager` gets the Minter's
    TOKEN_MANAGER_ROLE (mint, transferToLiquidity). The deployer holds the whole initial supply of
    the test tokens (anyone may also mint them). Returns {key: DeployedContract} for the keys above.
    """
    deployed: L1Deployment = {}

    def deploy(key: str, name: str, args: list) -> str:
        address, block_number = deploy_contract(w3, name, args, deployer)
        deployed[key] = DeployedContract(contract=name, address=address, block_number=block_number)
        return address

    messenger = deploy(L1_MESSENGER, "MockL1ScrollMessenger", [])
    liquidity = deploy(LIQUIDITY, "Liquidity", [])
    minter = deploy(
        MINTER,
        "Minter",
        [
            Web3.to_checksum_address(liquidity),
            Web3.to_checksum_address(deployer),
            Web3.to_checksum_address(token_manager),
        ],
    )
    # The Minter creates the ITX token in its constructor, so both share the deployment block.
    itx = contract_at(w3, "Minter", minter).functions.intmaxToken().call().lower()
    deployed[ITX] = DeployedContract(contract="IntmaxToken", address=itx, block_number=deployed[MINTER].block_number)
    for key, name, symbol, decimals in TEST_TOKENS:
        deploy(
            key,
            "TestERC20",
            [name, symbol, decimals, Web3.to_checksum_address(deployer), TEST_TOKEN_INITIAL_SUPPLY * 10**decimals],
        )
    deploy(MULTICALL3, "Multicall3", [])

    initial_tokens = [Web3.to_checksum_address(deployed[key].address) for key in (ITX, WBTC, USDC)]
    liquidity_contract = contract_at(w3, "Liquidity", liquidity)
    transact(
        w3,
        liquidity_contract.functions.initialize(
            Web3.to_checksum_address(deployer),  # _admin
            Web3.to_checksum_address(messenger),  # _l1ScrollMessenger
            ZERO_ADDRESS,  # _rollup: set by initialize_l1 once L2 exists
            ZERO_ADDRESS,  # _withdrawal: granted by initialize_l1
            ZERO_ADDRESS,  # _claim: granted by initialize_l1 when given
            Web3.to_checksum_address(relayer),  # _relayer
            ZERO_ADDRESS,  # _contribution: unused on the devnet
            initial_tokens,
        ),
        deployer,
    )
    return deployed


def deploy_odd_metadata_tokens(w3: Web3, deployer: str) -> L1Deployment:
    """Deploy the two tokens with non-standard metadata (keys BYTES32_SYMBOL_TOKEN, REVERTING_SYMBOL_TOKEN).

    Called after deploy_l1 and initialize_l1, so that every address those create stays what it
    always was. Liquidity gives each a token index on its first deposit (after USDC's 3)."""
    deployed: L1Deployment = {}
    for key, name, args in (
        (
            BYTES32_SYMBOL_TOKEN,
            "Bytes32SymbolERC20",
            [_bytes32(BYTES32_SYMBOL_TOKEN_NAME), _bytes32(BYTES32_SYMBOL_TOKEN_SYMBOL), ODD_TOKEN_DECIMALS],
        ),
        (REVERTING_SYMBOL_TOKEN, "RevertingSymbolERC20", [ODD_TOKEN_DECIMALS]),
    ):
        address, block_number = deploy_contract(w3, name, args, deployer)
        deployed[key] = DeployedContract(contract=name, address=address, block_number=block_number)
    return deployed


def _bytes32(text: str) -> bytes:
    """`text` as a bytes32 right-padded with NUL bytes (how MKR stores its name and symbol)."""
    raw = text.encode()
    if len(raw) > 32:
        raise ValueError(f"{text!r} does not fit in bytes32")
    return raw.ljust(32, b"\0")


def initialize_l1(
    w3: Web3,
    deployment: L1Deployment,
    *,
    admin: str,
    rollup: str,
    withdrawal: str,
    claim: str | None = None,
) -> None:
    """Connect L1 to L2: Liquidity relays deposits to `rollup` and accepts withdrawal messages whose
    L2 sender is `withdrawal` (or `claim`). `admin` is the deployer passed to deploy_l1."""
    liquidity = contract_at(w3, "Liquidity", deployment[LIQUIDITY].address)
    transact(w3, liquidity.functions.updateRollupContract(Web3.to_checksum_address(rollup)), admin)
    for l2_sender in (withdrawal, claim):
        if l2_sender:
            transact(w3, liquidity.functions.grantRole(WITHDRAWAL_ROLE, Web3.to_checksum_address(l2_sender)), admin)
