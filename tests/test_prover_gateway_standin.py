"""The devnet prover gateway stand-in, over real HTTP against the process the devnet starts.

The proofs it hands out end in a real `Withdrawal.submitWithdrawalProof` on the devnet L2, so
"accepted" and "rejected" are the contract's verdicts, not the stand-in's.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError

from intmax_core.chain.hashing import (
    ChainedWithdrawal,
    Withdrawal,
    chained_withdrawal_hash,
    hex32,
    withdrawal_hash,
    withdrawal_pis_hash,
)
from intmax_core.config import SettingsError, load_settings
from intmax_core.devnet_manifest import DevnetManifest, write_manifest
from intmax_devnet import devnet as devnet_commands
from intmax_devnet.anvil import free_port, process_group_alive
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.prover_gateway_proofs import chain_step, decode_chain_proof
from intmax_devnet.prover_gateway_state import INJECTED_ERROR
from intmax_devnet.prover_key import DEVNET_WITHDRAWAL_CIRCUIT_DIGEST
from intmax_devnet.single_withdrawal_proof import encode_proof
from tests.devnet_activity import contract

CHAIN = "/aggregator-prover/proof/withdrawal"
WRAPPER = "/aggregator-prover/proof/wrapper/withdrawal"
GNARK_START = "/withdrawal-gnark-server/start-proof"
GNARK_GET = "/withdrawal-gnark-server/get-proof"
VERIFIER_DATA = '{"constants_sigmas_cap":[],"circuit_digest":"0"}'
POLL_DEADLINE_SECONDS = 30.0
# Long enough that a job is certainly still pending when the test polls it.
LONG_LATENCY_SECONDS = 120.0
PROOF_FAILED = Web3.keccak(text="WithdrawalProofVerificationFailed()")[:4]


@pytest.fixture
def gateway(devnet: RunningDevnet) -> Iterator[httpx.Client]:
    assert devnet.manifest.prover_gateway is not None
    with httpx.Client(base_url=devnet.manifest.prover_gateway.url, timeout=10) as client:
        assert client.post("/__reset").status_code == 200
        yield client
        client.post("/__reset")


def withdrawals(devnet: RunningDevnet, n: int) -> list[ChainedWithdrawal]:
    """n withdrawals proven in the Rollup's genesis block, each with a fresh nullifier."""
    l2 = web3_for(devnet.manifest.l2.rpc_url)
    genesis = contract(l2, devnet.manifest, "rollup").functions.getBlockHash(0).call()
    return [
        ChainedWithdrawal(
            recipient=Account.create().address.lower(),
            token_index=0,
            amount=10**15 * (i + 1),
            nullifier=hex32(os.urandom(32)),
            block_hash=hex32(genesis),
            block_number=0,
        )
        for i in range(n)
    ]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def poll(fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while True:
        body = fetch()
        if done(body) or body.get("errorMessage") is not None or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def chain_get(gateway: httpx.Client, request_id: str) -> dict[str, Any]:
    return poll(lambda: gateway.get(f"{CHAIN}/{request_id}").json(), lambda b: b["proof"] is not None)


def prove_chain(gateway: httpx.Client, singles: list[bytes], ids: list[str]) -> list[dict[str, Any]]:
    """The aggregator's chain stage: one job per withdrawal, each on the previous proof."""
    results: list[dict[str, Any]] = []
    prev: str | None = None
    for single, request_id in zip(singles, ids, strict=True):
        posted = gateway.post(
            CHAIN, json={"id": request_id, "singleWithdrawalProof": b64(single), "prevWithdrawalProof": prev}
        )
        assert posted.status_code == 200 and posted.json() == {
            "success": True,
            "message": "withdrawal proof is generating",
        }
        body = chain_get(gateway, request_id)
        assert body["success"] is True and body["errorMessage"] is None, body
        results.append(body["proof"])
        prev = body["proof"]["proof"]
    return results


def wrap(gateway: httpx.Client, chain_proof: str, aggregator: str, request_id: str = "wrap-1") -> dict[str, Any]:
    posted = gateway.post(
        WRAPPER, json={"id": request_id, "withdrawalAggregator": aggregator, "withdrawalProof": chain_proof}
    )
    assert posted.status_code == 200
    return poll(lambda: gateway.get(f"{WRAPPER}/{request_id}").json(), lambda b: b["proof"] is not None)


def gnark(gateway: httpx.Client, wrapper_proof: str, verifier_data: str = VERIFIER_DATA) -> dict[str, Any]:
    started = gateway.post(GNARK_START, json={"proof": wrapper_proof, "verifierData": verifier_data})
    assert started.status_code == 200 and set(started.json()) == {"jobId"}
    job_id = started.json()["jobId"]
    return poll(lambda: gateway.get(GNARK_GET, params={"jobId": job_id}).json(), lambda b: b["proof"] is not None)


def submission(devnet: RunningDevnet, chained: list[dict[str, Any]], proof_hex: str):  # type: ignore[no-untyped-def]
    """submitWithdrawalProof as the aggregator builds it: the list in chain order, lastWithdrawalHash local."""
    aggregator = Web3.to_checksum_address(devnet.manifest.accounts["withdrawal_aggregator"])
    items = [
        ChainedWithdrawal(
            w["recipient"], w["tokenIndex"], int(w["amount"]), w["nullifier"], w["blockHash"], w["blockNumber"]
        )
        for w in chained
    ]
    last_hash = chained_withdrawal_hash(items)
    l2 = web3_for(devnet.manifest.l2.rpc_url)
    args = [
        (Web3.to_checksum_address(w.recipient), w.token_index, w.amount, bytes.fromhex(w.nullifier[2:]),
         bytes.fromhex(w.block_hash[2:]), w.block_number)
        for w in items
    ]  # fmt: skip
    call = contract(l2, devnet.manifest, "withdrawal").functions.submitWithdrawalProof(
        args, (last_hash, aggregator), bytes.fromhex(proof_hex)
    )
    return l2, call, aggregator, last_hash


def full_proof(
    gateway: httpx.Client, singles: list[bytes], ids: list[str], aggregator: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    chain = prove_chain(gateway, singles, ids)
    wrapper = wrap(gateway, chain[-1]["proof"], aggregator)
    assert wrapper["success"] is True and isinstance(wrapper["proof"], str), wrapper
    result = gnark(gateway, wrapper["proof"])
    assert result["success"] is True and result["errorMessage"] is None, result
    return chain, result["proof"]


def assert_rejected_on_chain(devnet: RunningDevnet, chained: list[dict[str, Any]], proof_hex: str) -> None:
    _, call, aggregator, _ = submission(devnet, chained, proof_hex)
    with pytest.raises(ContractCustomError) as caught:
        call.call({"from": aggregator})
    assert str(caught.value.data).removeprefix("0x").startswith(PROOF_FAILED.hex())


# --- the happy path and the contract's verdicts --------------------------------------------------


def test_chain_step_is_the_protocol_chained_hash() -> None:
    ws = [
        ChainedWithdrawal("0x" + "ab" * 20, i, 10**18 + i, hex32(os.urandom(32)), hex32(os.urandom(32)), 7 + i)
        for i in range(3)
    ]
    h = b"\x00" * 32
    for w in ws:
        h = chain_step(h, w)
    assert h == chained_withdrawal_hash(ws)


def test_three_stages_give_a_proof_the_withdrawal_contract_accepts(
    devnet: RunningDevnet, gateway: httpx.Client
) -> None:
    ws = withdrawals(devnet, 3)
    aggregator = devnet.manifest.accounts["withdrawal_aggregator"]
    ids = [hex32(withdrawal_hash(Withdrawal(w.recipient, w.token_index, w.amount, w.nullifier))) for w in ws]
    chain, proof = full_proof(gateway, [encode_proof(w) for w in ws], ids, aggregator)

    # Each chain-proof response carries the withdrawal it proves, amounts as decimal strings.
    for response, w in zip(chain, ws, strict=True):
        assert response["withdrawal"] == {
            "recipient": w.recipient, "tokenIndex": 0, "amount": str(w.amount), "nullifier": w.nullifier,
            "blockHash": w.block_hash, "blockNumber": 0,
        }  # fmt: skip
    l2, call, sender, last_hash = submission(devnet, [c["withdrawal"] for c in chain], proof["proof"])
    on_chain_digest = contract(l2, devnet.manifest, "withdrawal").functions.circuitDigest().call()
    assert proof["publicInputs"] == [str(on_chain_digest), str(withdrawal_pis_hash(last_hash, aggregator))]
    assert on_chain_digest == DEVNET_WITHDRAWAL_CIRCUIT_DIGEST
    assert not proof["proof"].startswith("0x") and len(bytes.fromhex(proof["proof"])) == 65
    receipt = transact(l2, call, sender)
    assert receipt["status"] == 1
    withdrawal = contract(l2, devnet.manifest, "withdrawal")
    assert all(withdrawal.functions.nullifiers(bytes.fromhex(w.nullifier[2:])).call() for w in ws)


def test_a_chain_proven_in_the_wrong_order_is_rejected_on_chain(devnet: RunningDevnet, gateway: httpx.Client) -> None:
    ws = withdrawals(devnet, 3)
    aggregator = devnet.manifest.accounts["withdrawal_aggregator"]
    swapped = [ws[1], ws[0], ws[2]]
    chain, proof = full_proof(gateway, [encode_proof(w) for w in swapped], ["a", "b", "c"], aggregator)
    # The gateway's last chain proof encodes the swapped order ...
    assert decode_chain_proof(base64.b64decode(chain[-1]["proof"])).chained_hash == chained_withdrawal_hash(swapped)
    # ... so submitting the withdrawals in their intended order fails verification.
    intended = [chain[1]["withdrawal"], chain[0]["withdrawal"], chain[2]["withdrawal"]]
    assert_rejected_on_chain(devnet, intended, proof["proof"])


def test_a_wrapper_bound_to_another_aggregator_is_rejected_on_chain(
    devnet: RunningDevnet, gateway: httpx.Client
) -> None:
    ws = withdrawals(devnet, 2)
    other = Account.create().address.lower()
    chain, proof = full_proof(gateway, [encode_proof(w) for w in ws], ["x", "y"], other)
    assert_rejected_on_chain(devnet, [c["withdrawal"] for c in chain], proof["proof"])


# --- pending shapes, latency and the id-collision defect ------------------------------------------


def test_pending_shapes_per_stage(devnet: RunningDevnet, gateway: httpx.Client) -> None:
    (w,) = withdrawals(devnet, 1)
    (chain,) = prove_chain(gateway, [encode_proof(w)], ["ready"])
    wrapper = wrap(gateway, chain["proof"], devnet.manifest.accounts["withdrawal_aggregator"])
    gateway.post("/__behaviour", json={"stage": "all", "latency_seconds": LONG_LATENCY_SECONDS})

    gateway.post(CHAIN, json={"id": "slow", "singleWithdrawalProof": b64(encode_proof(w)), "prevWithdrawalProof": None})
    assert gateway.get(f"{CHAIN}/slow").json() == {"success": True, "proof": None, "errorMessage": None}
    gateway.post(
        WRAPPER, json={"id": "slow", "withdrawalAggregator": "0x" + "11" * 20, "withdrawalProof": chain["proof"]}
    )
    assert gateway.get(f"{WRAPPER}/slow").json() == {"success": False, "proof": None, "errorMessage": None}
    job_id = gateway.post(GNARK_START, json={"proof": wrapper["proof"], "verifierData": VERIFIER_DATA}).json()["jobId"]
    assert gateway.get(GNARK_GET, params={"jobId": job_id}).json() == {
        "success": True,
        "proof": None,
        "errorMessage": None,
    }
    # Unknown ids are failures, not "pending": a poller must not wait out its budget on them.
    for path in (f"{CHAIN}/nope", f"{WRAPPER}/nope", f"{GNARK_GET}?jobId=nope"):
        body = gateway.get(path).json()
        assert body["success"] is False and body["proof"] is None and body["errorMessage"]


def test_jobs_finish_after_their_latency(devnet: RunningDevnet, gateway: httpx.Client) -> None:
    (w,) = withdrawals(devnet, 1)
    gateway.post("/__behaviour", json={"stage": "chain", "latency_seconds": 5})
    gateway.post(CHAIN, json={"id": "soon", "singleWithdrawalProof": b64(encode_proof(w)), "prevWithdrawalProof": None})
    assert gateway.get(f"{CHAIN}/soon").json()["proof"] is None
    assert chain_get(gateway, "soon")["proof"]["withdrawal"]["nullifier"] == w.nullifier


def test_reposting_a_cached_id_returns_the_old_proof_whatever_the_previous_proof(
    devnet: RunningDevnet, gateway: httpx.Client
) -> None:
    w0, w1 = withdrawals(devnet, 2)
    _, second = prove_chain(gateway, [encode_proof(w0), encode_proof(w1)], ["id-0", "id-1"])
    # Re-prove w1 as the first of a new chain under the same id: the cache answers with the old chain.
    gateway.post(
        CHAIN, json={"id": "id-1", "singleWithdrawalProof": b64(encode_proof(w1)), "prevWithdrawalProof": None}
    )
    again = chain_get(gateway, "id-1")["proof"]
    assert again == second
    assert decode_chain_proof(base64.b64decode(again["proof"])).chained_hash == chained_withdrawal_hash([w0, w1])
    assert decode_chain_proof(base64.b64decode(again["proof"])).chained_hash != chained_withdrawal_hash([w1])
    posts = gateway.get("/__requests", params={"stage": "chain", "method": "POST"}).json()["requests"]
    assert [(p["id"], p["started"], p["has_prev_withdrawal_proof"]) for p in posts] == [
        ("id-0", True, False),
        ("id-1", True, True),
        ("id-1", False, False),
    ]
    # A fresh id gives the right single-element chain.
    (fresh,) = prove_chain(gateway, [encode_proof(w1)], ["id-1-fresh"])
    assert decode_chain_proof(base64.b64decode(fresh["proof"])).chained_hash == chained_withdrawal_hash([w1])


# --- invalid input ---------------------------------------------------------------------------------


def test_an_invalid_single_withdrawal_proof_fails_the_job_and_caches_nothing(
    devnet: RunningDevnet, gateway: httpx.Client
) -> None:
    (w,) = withdrawals(devnet, 1)
    genuine = encode_proof(w)
    tampered = genuine[:40] + bytes([genuine[40] ^ 1]) + genuine[41:]
    forged = encode_proof(w, private_key=b"\x01" * 32)
    for request_id, proof in (("tampered", tampered), ("forged", forged), ("garbage", b"not a proof")):
        gateway.post(CHAIN, json={"id": request_id, "singleWithdrawalProof": b64(proof), "prevWithdrawalProof": None})
        body = chain_get(gateway, request_id)
        assert body["success"] is False and body["proof"] is None
        assert body["errorMessage"].startswith("invalid single withdrawal proof")
    # Nothing was cached under the failed id: re-posting it with a genuine proof proves it.
    (proof,) = prove_chain(gateway, [genuine], ["tampered"])
    assert proof["withdrawal"]["nullifier"] == w.nullifier
    # A previous proof that the gateway did not produce fails too.
    gateway.post(
        CHAIN, json={"id": "bad-prev", "singleWithdrawalProof": b64(genuine), "prevWithdrawalProof": b64(b"x" * 120)}
    )
    assert chain_get(gateway, "bad-prev")["errorMessage"].startswith("invalid previous withdrawal proof")


def test_malformed_requests_are_400(devnet: RunningDevnet, gateway: httpx.Client) -> None:
    (w,) = withdrawals(devnet, 1)
    single = b64(encode_proof(w))
    bad_posts: list[tuple[str, dict[str, Any]]] = [
        (CHAIN, {"singleWithdrawalProof": single}),
        (CHAIN, {"id": "a", "singleWithdrawalProof": "%%% not base64"}),
        (WRAPPER, {"id": "a", "withdrawalAggregator": "0x1234", "withdrawalProof": single}),
        (GNARK_START, {"proof": "{}", "verifierData": "not json"}),
        (GNARK_START, {"proof": "{}", "verifierData": '{"circuit_digest": "0"}'}),
    ]
    for path, body in bad_posts:
        response = gateway.post(path, json=body)
        assert response.status_code == 400 and response.json()["errorMessage"], (path, body)
    assert gateway.post(CHAIN, content=b"{not json").status_code == 400
    assert gateway.get(GNARK_GET).status_code == 400


def test_gnark_rejects_a_forged_wrapper_and_foreign_verifier_data(devnet: RunningDevnet, gateway: httpx.Client) -> None:
    (w,) = withdrawals(devnet, 1)
    (chain,) = prove_chain(gateway, [encode_proof(w)], ["g"])
    wrapper = wrap(gateway, chain["proof"], devnet.manifest.accounts["withdrawal_aggregator"])["proof"]
    # Re-binding the wrapper to another aggregator without the prover's signature is caught.
    forged = wrapper.replace(devnet.manifest.accounts["withdrawal_aggregator"][2:], "22" * 20)
    assert forged != wrapper
    assert gnark(gateway, forged)["errorMessage"].startswith("invalid wrapper proof")
    foreign = '{"constants_sigmas_cap":[],"circuit_digest":"12345"}'
    assert "circuit_digest" in gnark(gateway, wrapper, foreign)["errorMessage"]
    accepted = f'{{"constants_sigmas_cap":[],"circuit_digest":"{DEVNET_WITHDRAWAL_CIRCUIT_DIGEST}"}}'
    assert gnark(gateway, wrapper, accepted)["success"] is True


# --- injected failures -----------------------------------------------------------------------------


def start_stage_job(gateway: httpx.Client, stage: str, inputs: dict[str, str]) -> tuple[httpx.Response, Callable]:
    """POST one job of `stage`; returns the response and a function that GETs its status."""
    if stage == "chain":
        request_id = f"job-{time.monotonic_ns()}"
        body = {"id": request_id, "singleWithdrawalProof": inputs["single"], "prevWithdrawalProof": None}
        return gateway.post(CHAIN, json=body), lambda: gateway.get(f"{CHAIN}/{request_id}")
    if stage == "wrapper":
        request_id = f"job-{time.monotonic_ns()}"
        body = {"id": request_id, "withdrawalAggregator": "0x" + "11" * 20, "withdrawalProof": inputs["chain"]}
        return gateway.post(WRAPPER, json=body), lambda: gateway.get(f"{WRAPPER}/{request_id}")
    response = gateway.post(GNARK_START, json={"proof": inputs["wrapper"], "verifierData": VERIFIER_DATA})
    job_id = response.json().get("jobId") if response.status_code == 200 else None
    return response, lambda: gateway.get(GNARK_GET, params={"jobId": job_id})


@pytest.fixture
def stage_inputs(devnet: RunningDevnet, gateway: httpx.Client) -> dict[str, str]:
    (w,) = withdrawals(devnet, 1)
    (chain,) = prove_chain(gateway, [encode_proof(w)], ["inputs"])
    wrapper = wrap(gateway, chain["proof"], devnet.manifest.accounts["withdrawal_aggregator"])
    return {"single": b64(encode_proof(w)), "chain": chain["proof"], "wrapper": wrapper["proof"]}


def finished(get: Callable[[], httpx.Response]) -> dict[str, Any]:
    return poll(lambda: get().json(), lambda b: b["proof"] is not None)


@pytest.mark.parametrize("stage", ["chain", "wrapper", "gnark"])
def test_error_message_fault_fails_count_jobs_then_recovers(
    gateway: httpx.Client, stage_inputs: dict[str, str], stage: str
) -> None:
    gateway.post("/__behaviour", json={"stage": stage, "fail": "error_message", "count": 2})
    for _ in range(2):
        _, get = start_stage_job(gateway, stage, stage_inputs)
        assert finished(get) == {"success": False, "proof": None, "errorMessage": INJECTED_ERROR}
    _, get = start_stage_job(gateway, stage, stage_inputs)
    assert finished(get)["proof"] is not None


@pytest.mark.parametrize("stage", ["chain", "wrapper", "gnark"])
def test_http_500_fault_answers_500_then_recovers(
    gateway: httpx.Client, stage_inputs: dict[str, str], stage: str
) -> None:
    gateway.post("/__behaviour", json={"stage": stage, "fail": "http_500", "count": 2})
    for _ in range(2):
        response, _ = start_stage_job(gateway, stage, stage_inputs)
        assert response.status_code == 500
    response, get = start_stage_job(gateway, stage, stage_inputs)
    assert response.status_code == 200
    # Polls are faulted too: the next request of the stage answers 500, the one after it the proof.
    gateway.post("/__behaviour", json={"stage": stage, "fail": "http_500", "count": 1})
    assert get().status_code == 500
    assert finished(get)["proof"] is not None
    statuses = [r["status"] for r in gateway.get("/__requests", params={"stage": stage}).json()["requests"]]
    assert statuses.count(500) == 3


@pytest.mark.parametrize("stage", ["chain", "wrapper", "gnark"])
def test_never_finish_fault_leaves_the_job_pending(
    gateway: httpx.Client, stage_inputs: dict[str, str], stage: str
) -> None:
    gateway.post("/__behaviour", json={"stage": stage, "fail": "never_finish", "count": 1})
    _, stuck = start_stage_job(gateway, stage, stage_inputs)
    _, later = start_stage_job(gateway, stage, stage_inputs)
    # A job posted after the stuck one finishes, while the stuck one still answers "pending".
    assert finished(later)["proof"] is not None
    body = stuck().json()
    assert body["proof"] is None and body["errorMessage"] is None
    assert body["success"] is (stage != "wrapper")


def test_behaviour_is_validated_and_reset(gateway: httpx.Client) -> None:
    for bad in ({"stage": "x"}, {"stage": "all", "fail": "boom"}, {"stage": "all", "latency_seconds": -1}):
        assert gateway.post("/__behaviour", json=bad).status_code == 400
    gateway.post("/__behaviour", json={"stage": "all", "latency_seconds": 5, "fail": "http_500", "count": 3})
    assert gateway.get("/__behaviour").json()["gnark"] == {"latency_seconds": 5.0, "fail": "http_500", "count": 3}
    gateway.post("/__reset")
    assert gateway.get("/__behaviour").json()["chain"] == {"latency_seconds": 0.0, "fail": None, "count": 0}
    assert gateway.get("/__requests").json() == {"requests": []}


# --- wiring: manifest, settings, up/down -----------------------------------------------------------


def test_the_manifest_configures_the_prover_url(devnet: RunningDevnet, tmp_path: Path) -> None:
    manifest = devnet.manifest
    assert manifest.prover_gateway is not None and process_group_alive(manifest.prover_gateway.pid)
    write_manifest(tmp_path, manifest)
    assert load_settings(data_dir=tmp_path).zkp_prover_url == manifest.prover_gateway.url
    assert DevnetManifest.from_json(manifest.to_json()) == manifest
    assert load_settings(data_dir=tmp_path, zkp_prover_url="https://prover.example/").zkp_prover_url == (
        "https://prover.example"
    )


def test_an_invalid_prover_url_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path, zkp_prover_url="ftp://user:key123@host")
    assert "INTMAX_ZKP_PROVER_URL" in str(caught.value) and "key123" not in str(caught.value)


def test_devnet_up_starts_the_gateway_and_down_stops_it(tmp_path: Path) -> None:
    manifest = devnet_commands.up(tmp_path, l1_port=free_port(), l2_port=free_port())
    try:
        service = manifest.prover_gateway
        assert service is not None and process_group_alive(service.pid)
        assert httpx.get(f"{service.url}/aggregator-prover/proof/withdrawal/none").json()["success"] is False
        running, report = devnet_commands.status(tmp_path)
        assert running and f"prover_gateway stand-in: up, pid {service.pid}" in report
    finally:
        stopped = devnet_commands.down(tmp_path)
    assert service.pid not in stopped
    assert not process_group_alive(service.pid)
