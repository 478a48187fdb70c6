"""The devnet Scroll bridge API stand-in, over real HTTP against the process the devnet started.

L2->L1 messages are made on the real L2 mock messenger (directly, from an impersonated sender, or
through the Withdrawal contract) and relayed on the real L1 mock messenger with the claim_info the
stand-in returned, so every test also proves that claim_info is enough to relay a message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from web3 import Web3
from web3.logs import DISCARD

from intmax_core.chain.hashing import scroll_message_hash
from intmax_core.config import SettingsError, load_settings
from intmax_core.devnet_manifest import ServiceEntry, write_manifest
from intmax_core.relaying.mock_relayers import PROCESS_WITHDRAWALS
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import withdrawals
from intmax_devnet import devnet as devnet_module
from intmax_devnet.anvil import free_port, process_group_alive
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.scroll_bridge import (
    ERRCODE_CHAIN_READ,
    ERRCODE_PARAMETER_INVALID,
    MAX_PAGE_SIZE,
    UNCLAIMED_WITHDRAWALS_PATH,
    Chains,
    ScrollBridgeStandIn,
    start_standin,
)
from intmax_devnet.scroll_bridge_messages import TX_STATUS_FAILED_RELAYED, TX_STATUS_SENT
from intmax_devnet.simulator import SimulationPlan, Simulator
from tests.devnet_activity import contract, submit_withdrawals

CLIENT_TIMEOUT = 30.0
SEND_MESSAGE = "sendMessage(address,uint256,bytes,uint256)"
RESULT_FIELDS = {
    "hash",
    "replay_tx_hash",
    "refund_tx_hash",
    "message_hash",
    "token_type",
    "token_ids",
    "token_amounts",
    "message_type",
    "l1_token_address",
    "l2_token_address",
    "block_number",
    "tx_status",
    "counterpart_chain_tx",
    "claim_info",
    "block_timestamp",
    "batch_deposit_fee",
}


@pytest.fixture
def bridge(devnet: RunningDevnet) -> Iterator[ScrollBridgeStandIn]:
    assert devnet.scroll_bridge is not None
    yield devnet.scroll_bridge
    # Leave no pending fault or not-claimable mark to the next test (the process is per session).
    httpx.post(f"{devnet.scroll_bridge.url}/__faults", json={"mode": "errcode", "count": 0})


def unclaimed(bridge: ScrollBridgeStandIn, address: str, page: int = 1, page_size: int = MAX_PAGE_SIZE) -> dict:
    response = httpx.get(
        f"{bridge.url}{UNCLAIMED_WITHDRAWALS_PATH}",
        params={"page_size": page_size, "page": page, "address": address},
        timeout=CLIENT_TIMEOUT,
    )
    assert response.status_code == 200
    return response.json()


def results(bridge: ScrollBridgeStandIn, address: str) -> list[dict]:
    body = unclaimed(bridge, address)
    assert body["errcode"] == 0, body
    return body["data"]["results"]


def new_sender(w3: Web3) -> str:
    """A fresh funded L2 account that anvil lets us send from: each test lists only its own messages."""
    address = Web3.to_checksum_address("0x" + os.urandom(20).hex())
    w3.provider.make_request("anvil_setBalance", [address, hex(10**18)])
    w3.provider.make_request("anvil_impersonateAccount", [address])
    return address


def send_message(devnet: RunningDevnet, sender: str, target: str, message: bytes, value: int = 0) -> dict:
    l2 = web3_for(devnet.manifest.l2.rpc_url)
    messenger = contract(l2, devnet.manifest, "l2_scroll_messenger")
    call = messenger.get_function_by_signature(SEND_MESSAGE)(Web3.to_checksum_address(target), value, message, 10**6)
    tx_hash = call.transact({"from": sender, "value": value})
    receipt = l2.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def relay(devnet: RunningDevnet, claim_info: dict) -> tuple[dict, str]:
    """relayMessageWithProof with claim_info exactly as the messenger-relayer sends it; (receipt, event name)."""
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    messenger = contract(l1, devnet.manifest, "l1_scroll_messenger")
    proof = claim_info["proof"]
    call = messenger.functions.relayMessageWithProof(
        Web3.to_checksum_address(claim_info["from"]),
        Web3.to_checksum_address(claim_info["to"]),
        int(claim_info["value"]),
        int(claim_info["nonce"]),
        bytes.fromhex(claim_info["message"][2:]),
        (int(proof["batch_index"]), bytes.fromhex(proof["merkle_proof"][2:])),
    )
    receipt = l1.eth.wait_for_transaction_receipt(
        call.transact({"from": Web3.to_checksum_address(devnet.manifest.accounts["builder"])})
    )
    assert receipt["status"] == 1
    relayed = messenger.events.RelayedMessage().process_receipt(receipt, errors=DISCARD)
    failed = messenger.events.FailedRelayedMessage().process_receipt(receipt, errors=DISCARD)
    return receipt, "RelayedMessage" if relayed else "FailedRelayedMessage" if failed else "none"


def random_address() -> str:
    return "0x" + os.urandom(20).hex()


def test_paging_total_and_order(devnet: RunningDevnet, bridge: ScrollBridgeStandIn) -> None:
    sender = new_sender(web3_for(devnet.manifest.l2.rpc_url))
    receipts = [send_message(devnet, sender, random_address(), bytes([n])) for n in range(5)]
    pages = [unclaimed(bridge, sender, page=page, page_size=2) for page in (1, 2, 3, 4)]
    assert all(body["errcode"] == 0 and body["data"]["total"] == 5 for body in pages)
    assert [len(body["data"]["results"]) for body in pages] == [2, 2, 1, 0]
    listed = [entry["hash"] for body in pages for entry in body["data"]["results"]]
    # Every message exactly once across the pages, newest first as on the real API.
    assert listed == ["0x" + receipt["transactionHash"].hex().removeprefix("0x") for receipt in reversed(receipts)]
    # Another sender's messages are not listed; the address matches in any letter case.
    assert results(bridge, random_address()) == []
    assert len(results(bridge, sender.lower())) == len(results(bridge, sender.upper().replace("0X", "0x"))) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0, "page_size": 10},
        {"page": "one", "page_size": 10},
        {"page": 1, "page_size": 0},
        {"page": 1, "page_size": MAX_PAGE_SIZE + 1},
        {"page_size": 10},
        {"page": 1, "page_size": 10, "address": "0x1234"},
        {"page": 1, "page_size": 10, "address": None},
    ],
)
def test_invalid_parameters_answer_a_nonzero_errcode(bridge: ScrollBridgeStandIn, params: dict) -> None:
    query = {"address": random_address(), **params}
    response = httpx.get(
        f"{bridge.url}{UNCLAIMED_WITHDRAWALS_PATH}",
        params={key: value for key, value in query.items() if value is not None},
        timeout=CLIENT_TIMEOUT,
    )
    assert response.status_code == 200  # the real API reports bad input in the envelope
    body = response.json()
    assert body["errcode"] == ERRCODE_PARAMETER_INVALID and body["data"] is None
    assert body["errmsg"].startswith("parameter invalid")


def test_result_fields_and_claim_info(devnet: RunningDevnet, bridge: ScrollBridgeStandIn) -> None:
    l2 = web3_for(devnet.manifest.l2.rpc_url)
    sender, target, message = new_sender(l2), random_address(), b"\xca\xfe" * 40
    receipt = send_message(devnet, sender, target, message, value=7)
    (entry,) = results(bridge, sender)
    assert set(entry) == RESULT_FIELDS
    sent = contract(l2, devnet.manifest, "l2_scroll_messenger").events.SentMessage().process_receipt(receipt)[0]
    nonce = sent["args"]["messageNonce"]
    block = l2.eth.get_block(receipt["blockNumber"])
    assert entry["hash"] == "0x" + receipt["transactionHash"].hex().removeprefix("0x")
    assert entry["message_hash"] == "0x" + scroll_message_hash(sender, target, 7, nonce, message).hex()
    assert entry["block_number"] == receipt["blockNumber"]
    assert entry["block_timestamp"] == block["timestamp"]
    assert entry["tx_status"] == TX_STATUS_SENT
    assert entry["counterpart_chain_tx"] == {"hash": "", "block_number": 0}
    assert entry["token_amounts"] == ["7"]
    claim_info = entry["claim_info"]
    assert {key: claim_info[key] for key in ("from", "to", "value", "nonce", "message", "claimable")} == {
        "from": sender.lower(),
        "to": target,
        "value": "7",
        "nonce": str(nonce),
        "message": "0x" + message.hex(),
        "claimable": True,
    }
    proof = claim_info["proof"]
    assert set(proof) == {"batch_index", "merkle_proof"}
    assert isinstance(proof["batch_index"], str) and int(proof["batch_index"]) >= 0
    assert proof["merkle_proof"].startswith("0x") and len(bytes.fromhex(proof["merkle_proof"][2:])) % 32 == 0


def test_relayed_messages_are_dropped_and_failed_relays_stay(
    devnet: RunningDevnet, bridge: ScrollBridgeStandIn
) -> None:
    sender = new_sender(web3_for(devnet.manifest.l2.rpc_url))
    # A call to an account without code succeeds; Liquidity rejects a call that is not from the
    # Withdrawal contract, so the mock messenger emits FailedRelayedMessage for that one.
    send_message(devnet, sender, random_address(), b"\x01")
    send_message(devnet, sender, devnet.manifest.contracts["liquidity"].address, b"\x02")
    listed = {entry["claim_info"]["message"]: entry for entry in results(bridge, sender)}
    assert set(listed) == {"0x01", "0x02"}

    assert relay(devnet, listed["0x01"]["claim_info"])[1] == "RelayedMessage"
    failed_receipt, outcome = relay(devnet, listed["0x02"]["claim_info"])
    assert outcome == "FailedRelayedMessage"

    body = unclaimed(bridge, sender)
    assert body["data"]["total"] == 1
    (entry,) = body["data"]["results"]
    assert entry["message_hash"] == listed["0x02"]["message_hash"]
    assert entry["tx_status"] == TX_STATUS_FAILED_RELAYED
    assert entry["counterpart_chain_tx"] == {
        "hash": "0x" + failed_receipt["transactionHash"].hex().removeprefix("0x"),
        "block_number": failed_receipt["blockNumber"],
    }
    assert entry["claim_info"]["claimable"] is True  # it may be relayed again


def test_withdrawal_contract_messages_are_listed_until_relayed(
    devnet: RunningDevnet, bridge: ScrollBridgeStandIn, tmp_path: Path
) -> None:
    """The messenger-relayer's case: address = the L2 Withdrawal contract, the message goes to Liquidity."""
    manifest = devnet.manifest
    warehouse_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    migrate.upgrade(warehouse_url)
    Simulator(manifest, warehouse_url, SimulationPlan(seed=5, users=2, deposits=3, withdrawals=2, blocks=1)).run()
    with make_engine(warehouse_url).connect() as connection:
        proofs = list(connection.execute(select(withdrawals.c.single_withdrawal_proof)).scalars())
    submitted = submit_withdrawals(devnet, proofs)
    withdrawal_contract = manifest.contracts["withdrawal"].address

    (entry,) = results(bridge, withdrawal_contract)
    assert entry["hash"] == "0x" + submitted["transactionHash"].hex().removeprefix("0x")
    assert entry["claim_info"]["from"] == withdrawal_contract.lower()
    assert entry["claim_info"]["to"] == manifest.contracts["liquidity"].address.lower()
    assert entry["claim_info"]["message"].startswith("0x" + PROCESS_WITHDRAWALS.hex())

    receipt, outcome = relay(devnet, entry["claim_info"])
    assert outcome == "RelayedMessage"
    liquidity = contract(web3_for(manifest.l1.rpc_url), manifest, "liquidity")
    paid = liquidity.events.DirectWithdrawalSuccessed().process_receipt(receipt, errors=DISCARD)
    claimable = liquidity.events.WithdrawalClaimable().process_receipt(receipt, errors=DISCARD)
    assert len(paid) + len(claimable) == len(proofs)
    assert unclaimed(bridge, withdrawal_contract)["data"] == {"results": [], "total": 0}


def test_errcode_faults_including_io_timeout(devnet: RunningDevnet, bridge: ScrollBridgeStandIn) -> None:
    sender = new_sender(web3_for(devnet.manifest.l2.rpc_url))
    send_message(devnet, sender, random_address(), b"\x03")
    armed = httpx.post(f"{bridge.url}/__faults", json={"mode": "errcode", "count": 2})
    assert armed.status_code == 200
    assert httpx.get(f"{bridge.url}/__faults").json()["count"] == 2
    for _ in range(2):
        body = unclaimed(bridge, sender)
        assert body["errcode"] != 0 and "i/o timeout" in body["errmsg"] and body["data"] is None
    assert len(results(bridge, sender)) == 1  # the fault hit exactly the next two requests

    httpx.post(f"{bridge.url}/__faults", json={"mode": "errcode", "count": 1, "errcode": 40003, "errmsg": "db down"})
    assert unclaimed(bridge, sender) == {"errcode": 40003, "errmsg": "db down", "data": None}
    assert unclaimed(bridge, sender)["errcode"] == 0


def test_http_and_delay_faults(devnet: RunningDevnet, bridge: ScrollBridgeStandIn) -> None:
    address = random_address()
    url = f"{bridge.url}{UNCLAIMED_WITHDRAWALS_PATH}"
    params = {"page": 1, "page_size": 10, "address": address}
    httpx.post(f"{bridge.url}/__faults", json={"mode": "http", "status": 502, "count": 1})
    assert httpx.get(url, params=params).status_code == 502
    assert httpx.get(url, params=params).json()["errcode"] == 0
    httpx.post(f"{bridge.url}/__faults", json={"mode": "delay", "delay_seconds": 3, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, params=params, timeout=0.3)
    assert httpx.get(url, params=params, timeout=CLIENT_TIMEOUT).json()["errcode"] == 0  # blocks nobody else


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "teapot", "count": 1},
        {"mode": "errcode", "count": -1},
        {"mode": "errcode", "errcode": 0},
        {"mode": "http", "status": 200},
        {"mode": "delay", "delay_seconds": "soon"},
    ],
)
def test_bad_fault_requests_are_refused(bridge: ScrollBridgeStandIn, fault: dict) -> None:
    assert httpx.post(f"{bridge.url}/__faults", json=fault).status_code == 400
    assert httpx.get(f"{bridge.url}/__faults").json()["count"] == 0


def test_a_message_can_be_marked_not_yet_claimable(devnet: RunningDevnet, bridge: ScrollBridgeStandIn) -> None:
    sender = new_sender(web3_for(devnet.manifest.l2.rpc_url))
    send_message(devnet, sender, random_address(), b"\x04")
    send_message(devnet, sender, random_address(), b"\x05")
    first, second = results(bridge, sender)
    mark = {"message_hash": first["message_hash"], "claimable": False}
    try:
        assert httpx.post(f"{bridge.url}/__claimable", json=mark).status_code == 200
        now_first, now_second = results(bridge, sender)
        assert now_first["claim_info"]["claimable"] is False
        assert now_first["claim_info"]["proof"] == {"batch_index": "", "merkle_proof": ""}
        assert now_second["claim_info"] == second["claim_info"]  # only the marked one
    finally:
        httpx.post(f"{bridge.url}/__claimable", json={**mark, "claimable": True})
    assert results(bridge, sender)[0]["claim_info"] == first["claim_info"]
    assert httpx.post(f"{bridge.url}/__claimable", json={"message_hash": "0x12", "claimable": False}).status_code == 400


def test_a_chain_read_failure_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    dead_port = free_port()  # nothing listens there
    dead_rpc = f"http://127.0.0.1:{dead_port}/key-s3cret"
    server = start_standin(Chains(dead_rpc, dead_rpc, random_address(), random_address()))
    try:
        response = httpx.get(
            f"{server.url}{UNCLAIMED_WITHDRAWALS_PATH}",
            params={"page": 1, "page_size": 10, "address": random_address()},
            timeout=CLIENT_TIMEOUT,
        )
        body = response.json()
        assert body["errcode"] == ERRCODE_CHAIN_READ and body["data"] is None
        assert "s3cret" not in body["errmsg"] and str(dead_port) not in body["errmsg"]
    finally:
        server.stop()
    assert not process_group_alive(server.pid)


def test_manifest_url_reaches_settings_and_is_validated(devnet: RunningDevnet, tmp_path: Path) -> None:
    write_manifest(tmp_path, devnet.manifest)
    assert devnet.manifest.scroll_bridge is not None
    assert load_settings(data_dir=tmp_path).scroll_bridge_api_url == devnet.manifest.scroll_bridge.url
    explicit = "https://sepolia-api-bridge-v2.scroll.io/"
    assert load_settings(data_dir=tmp_path, scroll_bridge_api_url=explicit).scroll_bridge_api_url == explicit[:-1]
    # A manifest from before the stand-in configures none.
    write_manifest(tmp_path, replace(devnet.manifest, scroll_bridge=None))
    assert load_settings(data_dir=tmp_path).scroll_bridge_api_url is None
    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path, scroll_bridge_api_url="ftp://user:pw-123@host")
    assert "INTMAX_SCROLL_BRIDGE_API_URL" in str(caught.value) and "pw-123" not in str(caught.value)
    entry = ServiceEntry("scroll_bridge", "http://127.0.0.1:1", 1, "x.log")
    manifest = replace(devnet.manifest, scroll_bridge=entry)
    assert type(manifest).from_json(manifest.to_json()).scroll_bridge == entry


def test_devnet_up_starts_the_standin_and_down_stops_it(tmp_path: Path) -> None:
    manifest = devnet_module.up(tmp_path, l1_port=free_port(), l2_port=free_port())
    try:
        service = manifest.scroll_bridge
        assert service is not None and process_group_alive(service.pid)
        assert Path(service.log_path).parent == Path(manifest.l1.log_path).parent
        body = httpx.get(
            f"{service.url}{UNCLAIMED_WITHDRAWALS_PATH}",
            params={"page": 1, "page_size": 100, "address": manifest.contracts["withdrawal"].address},
            timeout=CLIENT_TIMEOUT,
        ).json()
        assert body == {"errcode": 0, "errmsg": "", "data": {"results": [], "total": 0}}
        running, report = devnet_module.status(tmp_path)
        assert running and f"scroll_bridge stand-in: up, pid {service.pid}" in report
    finally:
        stopped = devnet_module.down(tmp_path)
    assert service.pid not in stopped  # callers report the returned pids as chains
    assert not process_group_alive(service.pid)
