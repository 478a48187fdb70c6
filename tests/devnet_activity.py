"""Drive the devnet through the whole INTMAX2 flow, so that every indexed event type gets emitted.

Used by tests that need real history: deposits (ETH and ERC20), a cancelled deposit, relaying to
L2, posted blocks and heartbeats (simulator), withdrawals submitted on L2 and paid or made
claimable on L1, a claim, and ITX mint/transfer. The operator steps are done here by hand, the
way the pipeline's jobs will do them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import select
from web3 import Web3
from web3.logs import DISCARD
from web3.middleware import SignAndSendRawMiddlewareBuilder

from intmax_core.chain.hashing import Withdrawal, chained_withdrawal_hash, withdrawal_hash, withdrawal_pis_hash
from intmax_core.devnet_manifest import DevnetManifest
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import withdrawals
from intmax_devnet import accounts
from intmax_devnet.deployer import contract_at, transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.prover_key import DEVNET_WITHDRAWAL_CIRCUIT_DIGEST, withdrawal_proof
from intmax_devnet.simulator import SimulationPlan, Simulator
from intmax_devnet.single_withdrawal_proof import decode_proof

RELAY_FEE_WEI = 10**17  # the 0.1 ETH the deposit-analyzer sends with relayDeposits
RELAY_GAS_LIMIT = 2_000_000
ITX_TRANSFER = 10**18


def contract(w3: Web3, manifest: DevnetManifest, key: str):  # type: ignore[no-untyped-def]
    entry = manifest.contracts[key]
    return contract_at(w3, entry.contract, entry.address)


@dataclass
class Activity:
    deposit_ids: list[int]
    withdrawal_hashes: list[str]


def relay_l1_to_l2(devnet: RunningDevnet, receipt) -> None:  # type: ignore[no-untyped-def]
    """What the mock L1->L2 relayer does for the SentMessage in `receipt`."""
    manifest = devnet.manifest
    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    for sent in (
        contract(l1, manifest, "l1_scroll_messenger").events.SentMessage().process_receipt(receipt, errors=DISCARD)
    ):
        a = sent["args"]
        call = contract(l2, manifest, "l2_scroll_messenger").functions.relayMessage(
            a["sender"], a["target"], a["value"], a["messageNonce"], a["message"]
        )
        transact(l2, call, accounts.role("mock_messenger").address)


def relay_l2_to_l1(devnet: RunningDevnet, receipt):  # type: ignore[no-untyped-def]
    """What the mock L2->L1 relayer does for the SentMessage in `receipt`; returns the L1 receipt."""
    manifest = devnet.manifest
    l1, l2 = web3_for(manifest.l1.rpc_url), web3_for(manifest.l2.rpc_url)
    (sent,) = (
        contract(l2, manifest, "l2_scroll_messenger").events.SentMessage().process_receipt(receipt, errors=DISCARD)
    )
    a = sent["args"]
    call = contract(l1, manifest, "l1_scroll_messenger").functions.relayMessageWithProof(
        a["sender"], a["target"], a["value"], a["messageNonce"], a["message"], (0, b"")
    )
    return transact(l1, call, accounts.role("mock_messenger").address)


def submit_withdrawals(devnet: RunningDevnet, proofs: list[bytes]):  # type: ignore[no-untyped-def]
    """What the withdrawal aggregator does: chain the proven withdrawals and submit them on L2."""
    manifest = devnet.manifest
    l2 = web3_for(manifest.l2.rpc_url)
    chained = [decode_proof(p) for p in proofs]
    aggregator = manifest.accounts["withdrawal_aggregator"]
    last_hash = chained_withdrawal_hash(chained)
    proof = withdrawal_proof(DEVNET_WITHDRAWAL_CIRCUIT_DIGEST, withdrawal_pis_hash(last_hash, aggregator))
    items = [
        (Web3.to_checksum_address(w.recipient), w.token_index, w.amount, bytes.fromhex(w.nullifier[2:]),
         bytes.fromhex(w.block_hash[2:]), w.block_number)
        for w in chained
    ]  # fmt: skip
    call = contract(l2, manifest, "withdrawal").functions.submitWithdrawalProof(
        items, (last_hash, Web3.to_checksum_address(aggregator)), proof
    )
    return transact(l2, call, aggregator)


def full_flow(devnet: RunningDevnet, warehouse_url: str, plan: SimulationPlan) -> Activity:
    manifest = devnet.manifest
    l1 = web3_for(manifest.l1.rpc_url)
    report = Simulator(manifest, warehouse_url, plan).run()
    liquidity = contract(l1, manifest, "liquidity")

    # A user cancels their last deposit before it is relayed.
    last_id = report.deposit_ids[-1]
    (deposited,) = liquidity.events.Deposited().get_logs(from_block=0, argument_filters={"depositId": last_id})
    a = deposited["args"]
    deposit = (a["sender"], a["recipientSaltHash"], a["amount"], a["tokenIndex"], a["isEligible"])
    user = next(u for u in (accounts.user(i) for i in range(plan.users)) if u.address == a["sender"].lower())
    l1_user = web3_for(manifest.l1.rpc_url)
    l1_user.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(user.private_key), name="user", layer=0)
    transact(l1_user, contract(l1_user, manifest, "liquidity").functions.cancelDeposit(last_id, deposit), user.address)

    # The deposit analyzer relays everything, and the mock relayer delivers it to the Rollup.
    receipt = transact(
        l1,
        liquidity.functions.relayDeposits(last_id, RELAY_GAS_LIMIT),
        manifest.accounts["deposit_analyzer"],
        value=RELAY_FEE_WEI,
    )
    relay_l1_to_l2(devnet, receipt)

    # The aggregator submits the requested withdrawals; L1 pays the direct ones.
    with make_engine(warehouse_url).connect() as connection:
        proofs = (
            connection.execute(select(withdrawals.c.single_withdrawal_proof).order_by(withdrawals.c.created_at))
            .scalars()
            .all()
        )
    l1_receipt = relay_l2_to_l1(devnet, submit_withdrawals(devnet, list(proofs)))

    # A user claims one claimable withdrawal.
    claimable = liquidity.events.WithdrawalClaimable().process_receipt(l1_receipt, errors=DISCARD)
    if claimable:
        claim_hash = claimable[0]["args"]["withdrawalHash"]
        for proof in proofs:
            w = decode_proof(proof)
            if withdrawal_hash(Withdrawal(w.recipient, w.token_index, w.amount, w.nullifier)) == claim_hash:
                item = (Web3.to_checksum_address(w.recipient), w.token_index, w.amount, bytes.fromhex(w.nullifier[2:]))
                transact(l1, liquidity.functions.claimWithdrawals([item]), accounts.role("builder").address)

    # The token manager mints ITX and moves some to Liquidity.
    minter = contract(l1, manifest, "minter")
    token_manager = manifest.accounts["token_manager"]
    transact(l1, minter.functions.mint(), token_manager)
    transact(l1, minter.functions.transferToLiquidity(ITX_TRANSFER), token_manager)
    return Activity(report.deposit_ids, report.withdrawal_hashes)


def deposit_eth_and_usdc(devnet: RunningDevnet) -> list[int]:
    """Two ETH deposits and one USDC deposit (approved first) from the deployer; returns their ids."""
    manifest = devnet.manifest
    l1 = web3_for(manifest.l1.rpc_url)
    liquidity = contract(l1, manifest, "liquidity")
    user = accounts.role("deployer").address  # holds the test tokens' initial supply
    ids = []
    for amount in (10**15, 3 * 10**15 + 7):
        receipt = transact(l1, liquidity.functions.depositNativeToken(os.urandom(32), b"", b""), user, value=amount)
        ids.append(liquidity.events.Deposited().process_receipt(receipt)[0]["args"]["depositId"])
    usdc = contract(l1, manifest, "usdc")
    transact(l1, usdc.functions.approve(liquidity.address, 12_345_678), user)
    receipt = transact(l1, liquidity.functions.depositERC20(usdc.address, os.urandom(32), 12_345_678, b"", b""), user)
    ids.append(liquidity.events.Deposited().process_receipt(receipt, errors=DISCARD)[0]["args"]["depositId"])
    return ids
