"""The fee ceiling: on a chain whose fee suggestion follows the sender's own tips (anvil), the
originals' legacy formula compounds with every transaction; the ceiling bounds it."""

from __future__ import annotations

from pathlib import Path

from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.sender import SendPolicy, TransactionSender
from intmax_core.chain.signers import Signer
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_devnet import accounts
from intmax_devnet.devnet import RunningDevnet, web3_for

CAP = 100 * 10**9
SENDS = 8


def _gas_prices(devnet: RunningDevnet, tmp_path: Path, cap: int | None, name: str) -> list[int]:
    url = f"sqlite:///{tmp_path / name}.db"
    migrate.upgrade(url)
    w3 = web3_for(devnet.manifest.l2.rpc_url)
    with RpcClient([devnet.manifest.l2.rpc_url]) as client:
        sender = TransactionSender(
            client,
            make_engine(url),
            Signer.from_private_key(accounts.role("mock_messenger").private_key),
            devnet.manifest.l2.chain_id,
            policy=SendPolicy(fee_mode="legacy", max_fee_per_gas=cap),
        )
        outcomes = [
            sender.send("fee-cap-test", str(i), accounts.role("builder").address, b"", value=1) for i in range(SENDS)
        ]
    assert all(o.ok for o in outcomes)
    return [w3.eth.get_transaction(o.tx_hash)["gasPrice"] for o in outcomes]


def test_legacy_price_compounds_without_a_ceiling_and_is_bounded_with_one(devnet: RunningDevnet, tmp_path: Path):
    uncapped = _gas_prices(devnet, tmp_path, None, "uncapped")
    assert uncapped[-1] > 100 * uncapped[0]  # the runaway the ceiling exists for
    capped = _gas_prices(devnet, tmp_path, CAP, "capped")
    assert max(capped) == CAP and all(price <= CAP for price in capped)
