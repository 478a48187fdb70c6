"""The wallet observer: do the operational wallets hold enough ETH to keep sending?

The wallets are the originals' (docs/protocol.md §1), derived from INTMAX_OWNER_MNEMONIC at
m/44'/60'/0'/0/{index}: builder (0, L2), depositAnalyzer (1, L1), withdrawal (2, L2),
blockBuilderReward (3, L2) and tokenManager (4, L1); with INTMAX_USE_MOCK_WALLET_OBSERVER also the
mock relayers' key (mockMessenger) on L1 and L2. A wallet is sufficient iff its balance is strictly
above INTMAX_WALLET_REQUIRED_ETH_BALANCE, or INTMAX_WALLET_REQUIRED_ETH_MIN_BALANCE for the two
"min" wallets (blockBuilderReward, tokenManager).

If any wallet is insufficient, one INFO alert (service "wallet-observer") lists every wallet, one
block of lines each (Name, NetworkEnvironment, Address, Chain, Balance in ETH, Sufficient), as the
originals posted it. Balances move with every transaction, so the alert is suppressed on *which*
wallets are low, not on the exact text. An unreadable balance raises (unknown is neither
sufficient nor low).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal

from sqlalchemy import Engine

from intmax_core.alerts import AlertLevel, DeliveryResult, notify
from intmax_core.chain.rpc import RpcClient, RpcError, RpcUnavailable
from intmax_core.chain.signers import SignerRole, mock_messenger_signer, signer_for_role
from intmax_core.config import Settings

SERVICE = "wallet-observer"
WEI_PER_ETH = 10**18
Chain = Literal["L1", "L2"]

# (name, role, chains, "min" threshold): the originals' walletTypes.
OPERATIONAL_WALLETS: tuple[tuple[str, SignerRole, tuple[Chain, ...], bool], ...] = (
    ("builder", SignerRole.BUILDER, ("L2",), False),
    ("depositAnalyzer", SignerRole.DEPOSIT_ANALYZER, ("L1",), False),
    ("withdrawal", SignerRole.WITHDRAWAL_AGGREGATOR, ("L2",), False),
    ("blockBuilderReward", SignerRole.BLOCK_BUILDER_REWARD, ("L2",), True),
    ("tokenManager", SignerRole.TOKEN_MANAGER, ("L1",), True),
)
MOCK_MESSENGER = "mockMessenger"


class WalletBalanceUnknown(RuntimeError):
    """A balance could not be read: the observation is incomplete."""


@dataclass(frozen=True)
class ObservedWallet:
    name: str
    chain: Chain
    address: str
    required_wei: int  # the balance must be strictly above this

    @property
    def key(self) -> str:
        """A name unique across chains (mockMessenger is watched on both): `builder_l2`."""
        return f"{self.name}_{self.chain.lower()}"


@dataclass(frozen=True)
class WalletBalance:
    wallet: ObservedWallet
    balance_wei: int

    @property
    def sufficient(self) -> bool:
        return self.balance_wei > self.wallet.required_wei

    @property
    def balance_eth(self) -> Decimal:
        return Context(prec=100).divide(Decimal(self.balance_wei), Decimal(WEI_PER_ETH))


def format_eth(wei: int) -> str:
    """Wei as ETH the way viem's formatEther writes it: plain digits, no exponent, no trailing zeros."""
    text = format(Context(prec=100).divide(Decimal(wei), Decimal(WEI_PER_ETH)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def observed_wallets(settings: Settings) -> list[ObservedWallet]:
    """Every wallet to watch, in the originals' order. Raises SignerError when the mnemonic (or key) is missing."""
    normal = int(settings.wallet_required_eth_balance * WEI_PER_ETH)
    low = int(settings.wallet_required_eth_min_balance * WEI_PER_ETH)
    wallets = [
        ObservedWallet(name, chain, signer_for_role(settings, role).address, low if uses_min else normal)
        for name, role, chains, uses_min in OPERATIONAL_WALLETS
        for chain in chains
    ]
    if settings.use_mock_wallet_observer:
        address = mock_messenger_signer(settings).address
        wallets += [ObservedWallet(MOCK_MESSENGER, chain, address, normal) for chain in ("L1", "L2")]
    return wallets


def read_balances(wallets: list[ObservedWallet], clients: dict[Chain, RpcClient]) -> list[WalletBalance]:
    """Each wallet's balance at the latest block of its chain. Raises WalletBalanceUnknown on any failure."""
    balances = []
    for wallet in wallets:
        try:
            raw = clients[wallet.chain].call("eth_getBalance", [wallet.address, "latest"])
            balances.append(WalletBalance(wallet, int(raw, 16)))
        except (RpcError, RpcUnavailable) as error:
            raise WalletBalanceUnknown(f"{wallet.chain} balance of {wallet.name} ({wallet.address}): {error}") from None
        except (TypeError, ValueError):
            raise WalletBalanceUnknown(
                f"{wallet.chain} balance of {wallet.name} ({wallet.address}) is not a hex number"
            ) from None
    return balances


def wallet_report(balances: list[WalletBalance], network: str) -> str:
    """The alert's message: one block per wallet, separated by blank lines."""
    blocks = [
        "\n".join(
            (
                f"Name: {b.wallet.name}",
                f"NetworkEnvironment: {network}",
                f"Address: {b.wallet.address}",
                f"Chain: {b.wallet.chain}",
                f"Balance: {format_eth(b.balance_wei)}",
                f"Sufficient: {'Yes' if b.sufficient else 'No'}",
            )
        )
        for b in balances
    ]
    return "\n\n".join(blocks)


def check_wallets(
    settings: Settings, clients: dict[Chain, RpcClient], *, engine: Engine | None = None
) -> tuple[list[WalletBalance], DeliveryResult | None]:
    """Read every balance; if any is insufficient, raise the INFO alert. Returns the balances and the
    alert's result (None when all are sufficient)."""
    balances = read_balances(observed_wallets(settings), clients)
    low = [b.wallet.key for b in balances if not b.sufficient]
    if not low:
        return balances, None
    message = f"{len(low)} of {len(balances)} wallets have insufficient ETH\n\n" + wallet_report(
        balances, settings.network
    )
    state = "insufficient: " + ", ".join(sorted(low))
    return balances, notify(settings, AlertLevel.INFO, SERVICE, message, engine=engine, dedupe_on=state)
