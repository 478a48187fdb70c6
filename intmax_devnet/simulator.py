"""Deterministic devnet activity: what real users and operators of INTMAX2 produce.

For a given seed and plan, the simulator makes the same choices every time:
- users deposit ETH and ERC20 tokens (6 and 8 decimals, approving first) into Liquidity on L1;
- block builders send heartbeats to BlockBuilderRegistry and post INTMAX blocks to Rollup on L2;
- users request withdrawals, written to the `withdrawals` table exactly as the production
  withdrawal-server writes them (status `requested`, `contract_withdrawal` JSON, a proof blob),
  proven against INTMAX blocks that really exist on the devnet Rollup.

Users sign their own transactions with keys derived from the devnet mnemonic (accounts.py).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from web3 import Web3
from web3.logs import DISCARD
from web3.middleware import SignAndSendRawMiddlewareBuilder

from intmax_core.chain.hashing import ChainedWithdrawal, Withdrawal, hex32, withdrawal_hash
from intmax_core.config import Settings
from intmax_core.devnet_manifest import DevnetManifest, read_manifest
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals
from intmax_devnet import accounts
from intmax_devnet.builder_nodes import builder_base_url
from intmax_devnet.deployer import contract_at, transact
from intmax_devnet.devnet import web3_for
from intmax_devnet.single_withdrawal_proof import encode_proof

ETH = 10**18
# (manifest key, token index on Liquidity, decimals, smallest and largest deposit in whole units)
DEPOSIT_ASSETS = (
    ("eth", 0, 18, 0.01, 2.0),
    ("wbtc", 2, 8, 0.001, 0.5),
    ("usdc", 3, 6, 10.0, 5_000.0),
)
USER_L1_BALANCE_WEI = 1_000 * ETH
BUILDER_L2_BALANCE_WEI = 10 * ETH
# Users are given this many whole tokens of each test ERC20 before they deposit.
USER_TOKEN_GRANT = 1_000_000
# A withdrawal takes at most this share of what was deposited of its token, so that L1 can pay
# every simulated withdrawal from the deposits.
MAX_WITHDRAWAL_SHARE = 0.2
# Registration blocks carry fresh public keys; non-registration blocks refer to account ids.
MAX_SIMULATED_SENDERS = 8


@dataclass(frozen=True)
class SimulationPlan:
    seed: int = 1
    users: int = 5
    deposits: int = 20
    withdrawals: int = 10
    builders: int = 3
    blocks: int = 5

    def __post_init__(self) -> None:
        for name in ("users", "deposits", "withdrawals", "builders", "blocks"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.deposits and not self.users:
            raise ValueError("deposits need at least one user")
        if self.blocks and not self.builders:
            raise ValueError("posted blocks need at least one builder")
        if self.withdrawals and not self.blocks:
            raise ValueError("withdrawals are proven against posted INTMAX blocks: give --blocks >= 1")
        if self.withdrawals and not self.deposits:
            raise ValueError("withdrawals are paid from deposits: give --deposits >= 1")


@dataclass
class SimulationReport:
    plan: SimulationPlan
    deposits_by_token: Counter[str] = field(default_factory=Counter)
    deposit_ids: list[int] = field(default_factory=list)
    heartbeats: int = 0
    posted_blocks: list[int] = field(default_factory=list)
    withdrawal_hashes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        tokens = ", ".join(f"{n} {t.upper()}" for t, n in sorted(self.deposits_by_token.items())) or "none"
        ids = f" (ids {self.deposit_ids[0]}..{self.deposit_ids[-1]})" if self.deposit_ids else ""
        blocks = f" (INTMAX blocks {self.posted_blocks[0]}..{self.posted_blocks[-1]})" if self.posted_blocks else ""
        return "\n".join(
            [
                f"simulated devnet activity (seed {self.plan.seed}):",
                f"  users:       {self.plan.users}",
                f"  deposits:    {len(self.deposit_ids)}{ids}: {tokens}",
                f"  heartbeats:  {self.heartbeats} from {self.plan.builders} builders",
                f"  blocks:      {len(self.posted_blocks)} posted{blocks}",
                f"  withdrawals: {len(self.withdrawal_hashes)} requested (warehouse table `withdrawals`)",
            ]
        )


def simulate(settings: Settings, plan: SimulationPlan) -> SimulationReport:
    manifest = read_manifest(settings.data_dir)
    if manifest is None:
        raise SystemExit("no devnet manifest: run `intmax devnet up` first")
    return Simulator(manifest, settings.warehouse_url, plan).run()


class Simulator:
    def __init__(self, manifest: DevnetManifest, warehouse_url: str, plan: SimulationPlan) -> None:
        self.manifest = manifest
        self.warehouse_url = warehouse_url
        self.plan = plan
        self.l1 = web3_for(manifest.l1.rpc_url)
        self.l2 = web3_for(manifest.l2.rpc_url)
        # Same seed and same starting chain state, same activity. Mixing in the state lets a seed be
        # simulated again on a devnet that already has it: identical deposits would be rejected
        # (DepositHashAlreadyExists) and identical withdrawals would collide on their hash.
        last_deposit_id = self.contract(self.l1, "liquidity").functions.getLastDepositId().call()
        latest_block = self.contract(self.l2, "rollup").functions.getLatestBlockNumber().call()
        self.rng = random.Random(f"{plan.seed}:{last_deposit_id}:{latest_block}")
        self.users = [accounts.user(i) for i in range(plan.users)]
        self.builders = [accounts.builder(i) for i in range(plan.builders)]
        # Users and builders sign locally, as real wallets do; anvil does not know their keys.
        self.l1.middleware_onion.inject(
            SignAndSendRawMiddlewareBuilder.build([a.private_key for a in self.users]), name="user_keys", layer=0
        )
        self.l2.middleware_onion.inject(
            SignAndSendRawMiddlewareBuilder.build([b.private_key for b in self.builders]), name="builder_keys", layer=0
        )
        self.report = SimulationReport(plan)
        self.deposited: Counter[int] = Counter()  # token index -> amount deposited

    def contract(self, chain: Web3, key: str):  # type: ignore[no-untyped-def]
        entry = self.manifest.contracts[key]
        return contract_at(chain, entry.contract, entry.address)

    def run(self) -> SimulationReport:
        self.fund_participants()
        for _ in range(self.plan.deposits):
            self.deposit()
        for builder in self.builders:
            self.heartbeat(builder)
        for _ in range(self.plan.blocks):
            self.post_block()
        self.request_withdrawals()
        return self.report

    # --- setup -----------------------------------------------------------------------------
    def fund_participants(self) -> None:
        deployer = accounts.role("deployer").address
        for user in self.users:
            self.l1.provider.make_request("anvil_setBalance", [user.address, hex(USER_L1_BALANCE_WEI)])
            for key, _index, decimals, _low, _high in DEPOSIT_ASSETS:
                if key != "eth":
                    token = self.contract(self.l1, key)
                    grant = USER_TOKEN_GRANT * 10**decimals
                    transact(self.l1, token.functions.mint(Web3.to_checksum_address(user.address), grant), deployer)
        for builder in self.builders:
            self.l2.provider.make_request("anvil_setBalance", [builder.address, hex(BUILDER_L2_BALANCE_WEI)])

    # --- L1 deposits -----------------------------------------------------------------------
    def deposit(self) -> None:
        user = self.rng.choice(self.users)
        key, token_index, decimals, low, high = self.rng.choice(DEPOSIT_ASSETS)
        # Amounts with realistic precision: whole units of 10^-4 of the token.
        amount = int(round(self.rng.uniform(low, high), 4) * 10**4) * 10 ** (decimals - 4)
        recipient_salt_hash = self.rng.randbytes(32)
        liquidity = self.contract(self.l1, "liquidity")
        sender = user.address
        if key == "eth":
            deposit = liquidity.functions.depositNativeToken(recipient_salt_hash, b"", b"")
            receipt = transact(self.l1, deposit, sender, value=amount)
        else:
            token = self.contract(self.l1, key)
            transact(self.l1, token.functions.approve(liquidity.address, amount), sender)
            token_address = Web3.to_checksum_address(self.manifest.contracts[key].address)
            receipt = transact(
                self.l1, liquidity.functions.depositERC20(token_address, recipient_salt_hash, amount, b"", b""), sender
            )
        (event,) = liquidity.events.Deposited().process_receipt(receipt, errors=DISCARD)
        self.report.deposit_ids.append(event["args"]["depositId"])
        self.report.deposits_by_token[key] += 1
        self.deposited[token_index] += amount

    # --- L2 builders -----------------------------------------------------------------------
    def heartbeat(self, builder: accounts.DevnetAccount) -> None:
        registry = self.contract(self.l2, "block_builder_registry")
        number = builder.index - accounts.BUILDER_INDEX_BASE
        # With the builder nodes stand-in, announce a URL that answers /fee-info; older manifests
        # had none, and their builders announce a URL that never resolves.
        nodes = self.manifest.builder_nodes
        url = builder_base_url(nodes.url, number) if nodes else f"https://builder-{number}.devnet.intmax.invalid"
        transact(self.l2, registry.functions.emitHeartbeat(url), builder.address)
        self.report.heartbeats += 1

    def post_block(self) -> None:
        builder = self.rng.choice(self.builders)
        rollup = self.contract(self.l2, "rollup")
        rng = self.rng
        senders = rng.randint(1, MAX_SIMULATED_SENDERS)
        common = (
            rng.randbytes(32),  # txTreeRoot
            0,  # expiry: none
            0,  # builderNonce: 0 skips the nonce check
            rng.randbytes(16),  # senderFlags
            [rng.randbytes(32) for _ in range(2)],  # aggregatedPublicKey
            [rng.randbytes(32) for _ in range(4)],  # aggregatedSignature
            [rng.randbytes(32) for _ in range(4)],  # messagePoint
        )
        if rng.random() < 0.5:
            public_keys = [rng.getrandbits(255) for _ in range(senders)]
            call = rollup.functions.postRegistrationBlock(*common, public_keys)
        else:
            account_ids = b"".join(rng.randbytes(5) for _ in range(senders))
            call = rollup.functions.postNonRegistrationBlock(*common, rng.randbytes(32), account_ids)
        receipt = transact(self.l2, call, builder.address)
        (event,) = rollup.events.BlockPosted().process_receipt(receipt, errors=DISCARD)
        self.report.posted_blocks.append(event["args"]["blockNumber"])

    # --- withdrawal requests (the withdrawal-server's rows) --------------------------------
    def request_withdrawals(self) -> None:
        if not self.plan.withdrawals:
            return
        rollup = self.contract(self.l2, "rollup")
        block_hashes = {n: rollup.functions.getBlockHash(n).call() for n in self.report.posted_blocks}
        budget = {index: int(total * MAX_WITHDRAWAL_SHARE) for index, total in self.deposited.items()}
        now = datetime.now(UTC)
        rows = []
        for i in range(self.plan.withdrawals):
            token_index = self.rng.choice(sorted(self.deposited))
            share = budget[token_index] // self.plan.withdrawals
            amount = max(1, int(share * self.rng.uniform(0.1, 1.0)))
            block_number = self.rng.choice(self.report.posted_blocks)
            recipient = self.rng.choice(self.users).address
            chained = ChainedWithdrawal(
                recipient=recipient,
                token_index=token_index,
                amount=amount,
                nullifier="0x" + self.rng.randbytes(32).hex(),
                block_hash="0x" + block_hashes[block_number].hex(),
                block_number=block_number,
            )
            hash_ = hex32(withdrawal_hash(Withdrawal(recipient, token_index, amount, chained.nullifier)))
            rows.append(
                {
                    "withdrawal_hash": hash_,
                    "status": WithdrawalStatus.REQUESTED,
                    "pubkey": "0x" + self.rng.randbytes(32).hex(),
                    "recipient": recipient,
                    "contract_withdrawal": {
                        "recipient": recipient,
                        "tokenIndex": token_index,
                        "amount": str(amount),
                        "nullifier": chained.nullifier,
                    },
                    "single_withdrawal_proof": encode_proof(chained),
                    # Spread over the last hour, oldest first, as requests arrive over time.
                    "created_at": now - timedelta(seconds=(self.plan.withdrawals - i) * 60),
                }
            )
            self.report.withdrawal_hashes.append(hash_)
        migrate.upgrade(self.warehouse_url)
        engine = make_engine(self.warehouse_url)
        try:
            with engine.begin() as connection:
                connection.execute(insert(withdrawals), rows)
        finally:
            engine.dispose()
